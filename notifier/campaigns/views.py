"""Templates and campaigns as plain data for the JSON API, with the values their fields take."""

from __future__ import annotations

from typing import Any

from notifier.campaigns import lifecycle, rsvps
from notifier.contacts.views import iso
from notifier.models import Campaign, CampaignKind, CampaignStatus, Template

CAMPAIGN_KINDS = tuple(k.value for k in CampaignKind)
CAMPAIGN_STATUSES = tuple(s.value for s in CampaignStatus)
AUDIENCE_FILTERS = tuple(sorted(lifecycle.AUDIENCE_KEYS))


def template_view(template: Template) -> dict[str, Any]:
    return {
        "id": template.id,
        "name": template.name,
        "kind": template.kind,
        "purpose": template.purpose_key,
        "subject": template.subject,
        "body_mjml": template.body_mjml,
        "text": template.text,
        "variants": {
            locale: {"subject": v.subject, "body_mjml": v.body_mjml, "text": v.text}
            for locale, v in template.sources()[1:]
        },
        "version": template.version,
        "created_at": iso(template.created_at),
        "updated_at": iso(template.updated_at),
    }


def campaign_view(campaign: Campaign) -> dict[str, Any]:
    counters = lifecycle.counters(campaign.id)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "kind": campaign.kind,
        "purpose": campaign.purpose_key,
        "template_id": campaign.template_id,
        "template_version": campaign.template_version,
        "status": str(campaign.status),
        "status_reason": campaign.status_reason or "",
        "send_at": iso(campaign.send_at),
        "time_zone": campaign.time_zone,
        "local_send_at": (
            campaign.local_send_at.strftime("%Y-%m-%dT%H:%M") if campaign.local_send_at else None
        ),
        "audience": dict(campaign.audience or {}),
        "created_at": iso(campaign.created_at),
        "planned_at": iso(campaign.planned_at),
        "finished_at": iso(campaign.finished_at),
        "counters": {**counters, "total": sum(counters.values())},
        "reasons": lifecycle.reasons(campaign.id),
        "rsvps": rsvps.count_of(campaign),
        "ab_test": (
            {**campaign.ab_test, "winner": campaign.ab_winner} if campaign.ab_test else None
        ),
    }
