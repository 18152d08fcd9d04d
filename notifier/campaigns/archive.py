"""The public archive of an advertising purpose (its profile's `public_archive`, off by default):
its finished campaigns, each rendered for the layouts' sample person by the campaign's own
composer. Nothing personal: no recipient's name, address or signed link, ever; the footer's links
lead to the public sign-up page, which explains subscribing and unsubscribing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select

from notifier.campaigns.lifecycle import campaign_composer, campaign_sources
from notifier.campaigns.templates import SAMPLE
from notifier.delivery.composer import Links
from notifier.delivery.rendering.compiler import RenderedMessage
from notifier.delivery.rendering.errors import TemplateError
from notifier.delivery.rendering.sample_contact import placeholder_attributes
from notifier.domain.errors import NotFound
from notifier.domain.profile import Purpose
from notifier.infra.context import profile, public_base_url
from notifier.infra.extensions import db
from notifier.models import Campaign, CampaignStatus


@dataclass(frozen=True)
class ArchivedCampaign:
    id: int
    name: str
    sent_at: datetime | None


def archived_purpose(purpose_key: str) -> Purpose:
    """The purpose whose archive is public; NotFound for any other key (unknown, a service
    purpose, or an advertising purpose whose archive is off)."""
    purpose = next((p for p in profile().purposes if p.key == purpose_key), None)
    if purpose is None or not purpose.is_advertising or not purpose.public_archive:
        raise NotFound(f"archive of {purpose_key!r}")
    return purpose


def archived_campaigns(purpose: Purpose) -> Sequence[ArchivedCampaign]:
    """The purpose's finished campaigns, the latest first."""
    rows = db.session.execute(
        select(Campaign.id, Campaign.name, Campaign.finished_at)
        .where(Campaign.purpose_key == purpose.key, Campaign.status == CampaignStatus.DONE)
        .order_by(Campaign.finished_at.desc(), Campaign.id.desc())
    )
    return [ArchivedCampaign(id, name, sent_at) for id, name, sent_at in rows]


def archived_message(purpose: Purpose, campaign_id: int, locale: str) -> RenderedMessage:
    """A finished campaign of the purpose as the sample person reading `locale` would get it."""
    campaign = db.session.get(Campaign, campaign_id)
    if (
        campaign is None
        or campaign.purpose_key != purpose.key
        or campaign.status != CampaignStatus.DONE
    ):
        raise NotFound(f"campaign {campaign_id} in the archive of {purpose.key}")
    composer = campaign_composer(campaign)
    # Whatever `contact.<field>` the template prints shows as "[field]", as in the save check.
    parts = (
        p for _, v in campaign_sources(campaign) for p in (v.subject, v.body_mjml, v.text or "")
    )
    person = replace(SAMPLE, contact_id=0, locale=locale, attributes=placeholder_attributes(*parts))
    links, template_links = _public_links(f"/archive/{purpose.key}/{campaign_id}")
    try:
        return composer.page(person, dict(campaign.data or {}), links, template_links)
    except TemplateError:
        raise NotFound(f"campaign {campaign_id} does not render for the sample person") from None


def _public_links(page: str) -> tuple[Links, dict[str, str]]:
    """Links that name nobody: the sign-up page instead of any per-person page."""
    base = public_base_url()
    signup = f"{base}/subscribe"
    mailbox = profile().identity.unsubscribe_mailbox
    links = Links(signup, signup, signup, f"mailto:{mailbox}?subject=unsubscribe")
    template = {
        "unsubscribe": signup,
        "preferences": signup,
        "rsvp": f"{base}/e/preview",  # the page that says the link registers nobody
        "web_view": f"{base}{page}",
    }
    return links, template
