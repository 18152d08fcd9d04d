"""Opens and clicks of tracked campaign mail: count them, roll old ones up by day.

The counts come from running tallies (campaigns/engagement_tallies.py); the daily roll-up
feeds the charts over time (campaigns/engagement_series.py).

Recording one is campaigns/tracking_events.py (the redirect's own connection); the rules are in
domain/tracking.py and docs/tracking.md.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, func, select

from notifier.campaigns import engagement_tallies as tallies
from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns.lifecycle import campaign_composer
from notifier.campaigns.templates import SAMPLE
from notifier.delivery.composer import Links
from notifier.delivery.rendering.tracking import links_of
from notifier.domain.profile import TRACK_CLICKS, TRACK_OPENS
from notifier.domain.tokens import CLICK, OPEN
from notifier.infra.context import public_base_url, settings
from notifier.infra.extensions import db
from notifier.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
)
from notifier.models.tracking import ALL_LINKS, TrackingDaily, TrackingEvent
from notifier.operations.access import Access, csv_value

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkCount:
    index: int
    url: str
    total: int  # people's clicks
    unique: int  # people who clicked it


@dataclass(frozen=True)
class Engagement:
    tracked_clicks: int  # messages sent with tracked links
    tracked_opens: int  # messages sent with the open pixel
    opens: int  # people's opens (no scanner, no Apple Mail Privacy Protection)
    unique_opens: int
    clicks: int
    unique_clicks: int
    machine_opens: int  # flagged: kept out of the counts above
    machine_clicks: int
    links: tuple[LinkCount, ...]

    @property
    def tracked(self) -> bool:
        """Whether any of the campaign's mail was tracked (else the page shows nothing)."""
        return bool(self.tracked_clicks or self.tracked_opens or self.links or self.opens)

    @property
    def click_rate(self) -> float | None:
        """Unique human clicks per message sent with tracked links."""
        return self.unique_clicks / self.tracked_clicks if self.tracked_clicks else None

    @property
    def open_rate(self) -> float | None:
        return self.unique_opens / self.tracked_opens if self.tracked_opens else None


def engagement(campaign: Campaign) -> Engagement:
    """The campaign's counts: its tallies plus the events not folded into them yet
    (campaigns/engagement_tallies.py). A person counts once per link and once per kind; one
    who comes back after the retention period dropped their row counts again."""
    counts = {
        (kind, link): count for (_, kind, link), count in tallies.tallied([campaign.id]).items()
    }
    sent = Delivery.status == DeliveryStatus.SENT
    tracked = db.session.execute(
        select(
            func.count().filter(Delivery.tracking.op("&")(TRACK_CLICKS) != 0),
            func.count().filter(Delivery.tracking.op("&")(TRACK_OPENS) != 0),
        ).where(Delivery.campaign_id == campaign.id, sent)
    ).one()
    destinations = link_destinations(campaign)

    def total(kind: str, human: bool) -> int:
        return sum(c.human if human else c.total for (k, _), c in counts.items() if k == kind)

    def people(kind: str) -> int:
        return counts[(kind, ALL_LINKS)].people if (kind, ALL_LINKS) in counts else 0

    links = tuple(
        LinkCount(
            link,
            destinations[link] if link < len(destinations) else "",
            count.human,
            count.people,
        )
        for (kind, link), count in sorted(counts.items())
        if kind == CLICK and link != ALL_LINKS
    )
    return Engagement(
        tracked_clicks=tracked[0] or 0,
        tracked_opens=tracked[1] or 0,
        opens=total(OPEN, True),
        unique_opens=people(OPEN),
        clicks=total(CLICK, True),
        unique_clicks=people(CLICK),
        machine_opens=total(OPEN, False) - total(OPEN, True),
        machine_clicks=total(CLICK, False) - total(CLICK, True),
        links=links,
    )


def campaign_engagement(access: Access, campaign_id: int) -> Engagement | None:
    """The counts for the campaign page; None while nothing could have been tracked yet."""
    access.require("campaigns.view")
    campaign = campaigns.get_campaign(campaign_id)
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        return None
    return engagement(campaign)


def engagement_csv(access: Access, campaign_id: int) -> str:
    """The campaign's counts as CSV: one row per measure, then one per link. Counts only: no
    person is named, so every role that sees the campaign may have it."""
    access.require("campaigns.view")
    counts = engagement(campaigns.get_campaign(campaign_id))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["measure", "link", "url", "value"])
    for measure, value in (
        ("messages_with_tracked_links", counts.tracked_clicks),
        ("messages_with_open_pixel", counts.tracked_opens),
        ("opens", counts.opens),
        ("unique_opens", counts.unique_opens),
        ("clicks", counts.clicks),
        ("unique_clicks", counts.unique_clicks),
        ("click_through_rate", rate_cell(counts.click_rate)),
        ("open_rate", rate_cell(counts.open_rate)),
        ("machine_opens", counts.machine_opens),
        ("machine_clicks", counts.machine_clicks),
    ):
        writer.writerow([measure, "", "", value])
    for link in counts.links:
        # The destination is the template's text: a formula start is neutralised like any cell.
        url = csv_value(link.url)
        writer.writerow(["link_clicks", link.index, url, link.total])
        writer.writerow(["link_unique_clicks", link.index, url, link.unique])
    return out.getvalue()


def rate_cell(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


def link_destinations(campaign: Campaign) -> list[str]:
    """Link i of the campaign's messages, as the Vietnamese variant shows them to the sample
    person (the index a click records is the link's place in its message)."""
    base = public_base_url()
    nobody = f"{base}/subscribe"
    links = Links(nobody, nobody, nobody, "mailto:nobody@invalid")
    # Our own pages are never tracked: any link under the base stands in for them.
    own = {"unsubscribe": nobody, "preferences": nobody, "rsvp": nobody, "web_view": nobody}
    try:
        composer = campaign_composer(campaign)
        person = replace(SAMPLE, contact_id=0, locale="vi")
        page = composer.page(person, dict(campaign.data or {}), links, own)
    except Exception:  # a template that no longer renders for the sample: the indices alone
        log.warning("campaign %s: link destinations unknown", campaign.id, exc_info=True)
        return []
    return links_of(page.html, base)


def contact_engagement(contact_id: int) -> list[tuple[int, str, int, int, datetime]]:
    """(campaign, kind, link, flags, time) of every event held about a person, newest first
    (for their data export; at most the retention period's worth)."""
    rows = db.session.execute(
        select(
            TrackingEvent.campaign_id,
            TrackingEvent.kind,
            TrackingEvent.link,
            TrackingEvent.flags,
            TrackingEvent.at,
        )
        .where(TrackingEvent.contact_id == contact_id)
        .order_by(TrackingEvent.at.desc())
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def erase_contact(contact_id: int) -> int:
    """Every event of the person goes with them, and the record that they were counted (the
    tallies and the daily counts name nobody)."""
    tallies.erase_contact(contact_id)
    result = db.session.execute(
        delete(TrackingEvent).where(TrackingEvent.contact_id == contact_id),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def roll_up(now: datetime) -> int:
    """Events older than TRACKING_RETENTION_DAYS: added to the daily counts, then deleted.
    Whole days only (up to the start of the cut-off day), so a day is rolled up once."""
    cutoff_day = (now.astimezone(UTC) - timedelta(days=settings().TRACKING_RETENTION_DAYS)).date()
    cutoff = datetime(cutoff_day.year, cutoff_day.month, cutoff_day.day, tzinfo=UTC)
    old = TrackingEvent.at < cutoff
    any_old = bool(db.session.scalar(select(exists().where(old))))
    if any_old:
        # Every event is in the tallies before it goes. Only when some go: the scheduler's own
        # fold keeps its rounds short, and this one folds everything left in one transaction.
        tallies.fold(now, batches=None)
    tallies.retire(cutoff)  # who was counted goes with the events
    if not any_old:
        return 0
    day = func.date(TrackingEvent.at)
    human = TrackingEvent.flags == 0
    rows = db.session.execute(
        select(
            TrackingEvent.campaign_id,
            day,
            TrackingEvent.kind,
            TrackingEvent.link,
            func.count(),
            func.count().filter(human),
            func.count(func.distinct(TrackingEvent.contact_id)).filter(human),
        )
        .where(old)
        .group_by(TrackingEvent.campaign_id, day, TrackingEvent.kind, TrackingEvent.link)
    ).all()
    for campaign_id, on, kind, link, every, people, once in rows:
        on_day = on if not isinstance(on, str) else datetime.fromisoformat(on).date()
        existing = db.session.get(TrackingDaily, (campaign_id, on_day, kind, link))
        if existing is None:
            db.session.add(
                TrackingDaily(
                    campaign_id=campaign_id,
                    day=on_day,
                    kind=kind,
                    link=link,
                    total=every,
                    human=people,
                    unique_human=once,
                )
            )
        else:  # a late event of a day rolled up before (a clock moved back): add to it
            existing.total += every
            existing.human += people
            existing.unique_human += once
    db.session.flush()
    deleted = db.session.execute(
        delete(TrackingEvent).where(old), execution_options={"synchronize_session": False}
    )
    count = int(deleted.rowcount or 0)  # type: ignore[attr-defined]
    log.info("tracking: %d events rolled up into daily counts", count)
    return count
