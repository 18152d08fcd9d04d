"""Model rows as the JSON bodies the OpenAPI document describes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import url_for

from notifier.campaigns import lifecycle as campaigns
from notifier.contacts.api_contacts import ConsentOverview, purpose_kind
from notifier.domain.consent_rules import ConsentStatus
from notifier.models import Campaign, ConsentEvent, Contact, Notice, NoticeType, Template


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "external_ref": contact.external_ref or "",
        "email": contact.email,
        "name": contact.name,
        "phone": contact.phone,
        "address": contact.address,
        "organisation": contact.organisation,
        "contact_person": contact.contact_person,
        "locale": contact.locale,
        "time_zone": contact.time_zone,
        "contract_ends_on": _iso(contact.contract_ends_on),
        "tags": contact.tag_names,
        "attributes": dict(contact.attributes or {}),
        "created_at": _iso(contact.created_at),
        "updated_at": _iso(contact.updated_at),
    }


def consents_json(overview: ConsentOverview) -> dict[str, Any]:
    return {
        "external_ref": overview.contact.external_ref or "",
        "purposes": [
            {"purpose": key, "kind": purpose_kind(key), "status": ConsentStatus(status).value}
            for key, status in overview.states.items()
        ],
        "history": [_event_json(event) for event in overview.history],
    }


def _event_json(event: ConsentEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "purpose": event.purpose_key,
        "action": event.action,
        "source": event.source,
        "occurred_at": _iso(event.occurred_at),
        "recorded_at": _iso(event.recorded_at),
        "notice_version": event.notice_version,
        "locale": event.locale,
    }


def status_url(notice: Notice) -> str:
    return url_for("api.notice_status", notice_id=notice.id)


def accepted_json(notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "type": notice.type,
        "status_url": status_url(notice),
        "created_at": _iso(notice.created_at),
    }


def notice_json(notice: Notice, external_ref: str | None) -> dict[str, Any]:
    return {
        "id": notice.id,
        "type": notice.type,
        "status": str(notice.status),
        "reason": notice.reason,
        "external_ref": external_ref,
        "created_at": _iso(notice.created_at),
        "send_at": _iso(notice.send_at),
        "sent_at": _iso(notice.sent_at),
        "message_id": notice.message_id,
        "smtp_code": notice.smtp_code,
        "smtp_message": notice.smtp_message or None,
        "attempts": notice.attempts,
    }


def notice_type_json(notice_type: NoticeType) -> dict[str, Any]:
    return {"key": notice_type.key, "name": notice_type.name, "purpose": notice_type.purpose_key}


def template_json(template: Template) -> dict[str, Any]:
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
        "created_at": _iso(template.created_at),
        "updated_at": _iso(template.updated_at),
    }


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    counters = campaigns.counters(campaign.id)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "kind": campaign.kind,
        "purpose": campaign.purpose_key,
        "template_id": campaign.template_id,
        "template_version": campaign.template_version,
        "status": str(campaign.status),
        "status_reason": campaign.status_reason or "",
        "send_at": _iso(campaign.send_at),
        "time_zone": campaign.time_zone,
        "audience": dict(campaign.audience or {}),
        "created_at": _iso(campaign.created_at),
        "planned_at": _iso(campaign.planned_at),
        "finished_at": _iso(campaign.finished_at),
        "counters": {**counters, "total": sum(counters.values())},
        "reasons": campaigns.reasons(campaign.id),
    }
