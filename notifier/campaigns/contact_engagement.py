"""One person's opens and clicks, for staff whose role holds `contacts.engagement`.

Unlike a campaign's counts, these name a person: what they opened and followed, and when. So they
have a permission of their own (the built-in admin role holds it, a profile role only when the
profile says so), and every look is audited like the contact page (docs/tracking.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from notifier.campaigns.engagement import link_destinations
from notifier.domain.errors import NotFound
from notifier.domain.tokens import CLICK
from notifier.infra.extensions import db
from notifier.models import Campaign, Contact
from notifier.models.tracking import TrackingEvent
from notifier.operations.access import Access

PERMISSION = "contacts.engagement"
PAGE = 200  # the newest events on the page; the retention period bounds the rest


@dataclass(frozen=True)
class ContactEvent:
    campaign_id: int
    campaign: str
    kind: str  # OPEN or CLICK
    link: int  # the link's place in the message (0 for an open)
    url: str  # a click's destination as the Vietnamese variant shows it; "" if unknown
    machine: bool  # flagged: a scanner's or Apple's proxy
    at: datetime


@dataclass(frozen=True)
class ContactEngagement:
    events: list[ContactEvent]
    total: int  # all events held about the person (the page shows the newest PAGE)


def contact_events(access: Access, contact_id: int, limit: int = PAGE) -> ContactEngagement:
    access.require(PERMISSION)
    if db.session.get(Contact, contact_id) is None:
        raise NotFound("contact")
    total = int(
        db.session.scalar(select(func.count()).where(TrackingEvent.contact_id == contact_id)) or 0
    )
    rows = db.session.execute(
        select(
            TrackingEvent.campaign_id,
            Campaign.name,
            TrackingEvent.kind,
            TrackingEvent.link,
            TrackingEvent.flags,
            TrackingEvent.at,
        )
        .join(Campaign, Campaign.id == TrackingEvent.campaign_id)
        .where(TrackingEvent.contact_id == contact_id)
        .order_by(TrackingEvent.at.desc(), TrackingEvent.id.desc())
        .limit(limit)
    ).all()
    # A campaign's destinations come from rendering its template once, for the campaigns clicked.
    destinations = {
        campaign_id: link_destinations(db.session.get_one(Campaign, campaign_id))
        for campaign_id in {row.campaign_id for row in rows if row.kind == CLICK}
    }
    events = [
        ContactEvent(
            campaign_id=row.campaign_id,
            campaign=row.name,
            kind=row.kind,
            link=row.link,
            url=_url(destinations.get(row.campaign_id, []), row.link) if row.kind == CLICK else "",
            machine=row.flags != 0,
            at=row.at,
        )
        for row in rows
    ]
    access.audit("contacts.engagement", "contact", contact_id, shown=len(events), total=total)
    db.session.flush()
    return ContactEngagement(events, total)


def _url(destinations: list[str], link: int) -> str:
    return destinations[link] if 0 <= link < len(destinations) else ""
