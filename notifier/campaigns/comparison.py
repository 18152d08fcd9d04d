"""The last N campaigns side by side: sent, opens, clicks, their rates, bounces. Counts only.

The same measures as each campaign's page (engagement.engagement), read for all N at once: one
query for the campaigns, one for their ledgers, and their tallies with the events not folded
into them yet (campaigns/engagement_tallies.py). Unsubscribes are not counted: an unsubscribe
token names the person and the purpose, not the campaign, so the consent ledger cannot tell
which mail's link was used (docs/tracking.md, "Comparing campaigns").
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from notifier.campaigns import engagement_tallies as tallies
from notifier.campaigns.engagement import rate_cell
from notifier.domain.errors import ValidationFailed
from notifier.domain.profile import TRACK_CLICKS, TRACK_OPENS
from notifier.domain.tokens import CLICK, OPEN
from notifier.infra.extensions import db
from notifier.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from notifier.models.tracking import ALL_LINKS
from notifier.operations.access import Access, csv_value

DEFAULT_COUNT, MAX_COUNT = 10, 50
# Sending (or paused while sending) and finished: a campaign whose mail has gone out.
COMPARED = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.DONE)


@dataclass(frozen=True)
class Compared:
    id: int
    name: str
    status: str
    send_at: datetime | None
    sent: int
    bounced: int
    tracked_opens: int  # messages sent with the open pixel
    tracked_clicks: int  # messages sent with tracked links
    unique_opens: int
    unique_clicks: int

    @property
    def open_rate(self) -> float | None:
        return self.unique_opens / self.tracked_opens if self.tracked_opens else None

    @property
    def click_rate(self) -> float | None:
        return self.unique_clicks / self.tracked_clicks if self.tracked_clicks else None


def campaign_count(text: str | None) -> int:
    """N from a query string: 1 to 50, digits only; absent means 10. Anything else is refused
    (ValidationFailed naming the catalogue key), never guessed at."""
    if text is None or text == "":
        return DEFAULT_COUNT
    if len(text) > 3 or not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_COUNT:
        raise ValidationFailed({"n": "comparison_count_invalid"})
    return int(text)


def last_campaigns(access: Access, count: int) -> list[Compared]:
    """The `count` campaigns sent last (by their send time), newest first."""
    access.require("campaigns.view")
    if not 1 <= count <= MAX_COUNT:
        raise ValidationFailed({"n": "comparison_count_invalid"})
    found = db.session.execute(
        select(Campaign.id, Campaign.name, Campaign.status, Campaign.send_at)
        .where(Campaign.status.in_(COMPARED))
        .order_by(Campaign.send_at.desc().nulls_last(), Campaign.id.desc())
        .limit(count)
    ).all()
    ids = [row.id for row in found]
    if not ids:
        return []
    sent = Delivery.status == DeliveryStatus.SENT
    ledger = {
        row[0]: row[1:]
        for row in db.session.execute(
            select(
                Delivery.campaign_id,
                func.count().filter(sent),
                func.count().filter(Delivery.status == DeliveryStatus.BOUNCED),
                func.count().filter(sent, Delivery.tracking.op("&")(TRACK_OPENS) != 0),
                func.count().filter(sent, Delivery.tracking.op("&")(TRACK_CLICKS) != 0),
            )
            .where(Delivery.campaign_id.in_(ids))
            .group_by(Delivery.campaign_id)
        )
    }
    counts = tallies.tallied(ids)
    rows = []
    for row in found:
        s, b, o, c = ledger.get(row.id, (0, 0, 0, 0))
        opened, clicked = (
            counts[(row.id, kind, ALL_LINKS)].people if (row.id, kind, ALL_LINKS) in counts else 0
            for kind in (OPEN, CLICK)
        )
        rows.append(
            Compared(
                id=row.id,
                name=row.name,
                status=row.status,
                send_at=row.send_at,
                sent=int(s),
                bounced=int(b),
                tracked_opens=int(o),
                tracked_clicks=int(c),
                unique_opens=opened,
                unique_clicks=clicked,
            )
        )
    return rows


def comparison_csv(access: Access, count: int) -> str:
    """The page's rows; the campaign name, which staff wrote, goes through the formula guard."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["campaign_id", "name", "status", "send_at", "sent", "unique_opens", "open_rate",
         "unique_clicks", "click_through_rate", "bounces"]
    )  # fmt: skip
    for r in last_campaigns(access, count):
        writer.writerow(
            [r.id, csv_value(r.name), r.status, r.send_at.isoformat() if r.send_at else "",
             r.sent, r.unique_opens, rate_cell(r.open_rate), r.unique_clicks,
             rate_cell(r.click_rate), r.bounced]
        )  # fmt: skip
    return out.getvalue()
