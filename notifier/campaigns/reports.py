"""Campaign progress and final reports, and the report's CSV export (by role, audited)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from notifier.campaigns import ab_tests, report_copy, rsvps, send_time
from notifier.campaigns import lifecycle as campaigns
from notifier.domain.send_time import Held
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import Campaign, CampaignStatus, Contact, Delivery, DeliveryStatus, Template
from notifier.operations.access import Access, csv_value

FINAL = (DeliveryStatus.SENT, DeliveryStatus.SKIPPED, DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN,
         DeliveryStatus.BOUNCED)  # fmt: skip
LIVE = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED)
EXPORT_COLUMNS = ("name", "email")  # of the contact, each only when the role may see it


@dataclass(frozen=True)
class CampaignReport:
    campaign: Campaign
    template_name: str
    counters: dict[str, int]
    reasons: dict[str, int] = field(default_factory=dict)
    rsvps: int | None = None  # registrations through an event campaign's RSVP link
    # Deferred rows waiting for their recipient's own time, by why (domain/send_time.Held), and
    # the profile's quiet hours for this campaign's mail ("22:00-08:00"; "" when none apply).
    waiting: dict[str, int] = field(default_factory=dict)
    quiet_hours: str = ""

    @property
    def total(self) -> int:
        return sum(self.counters.values())

    @property
    def settled(self) -> int:
        return sum(self.counters.get(status, 0) for status in FINAL)

    @property
    def percent(self) -> int:
        return round(100 * self.settled / self.total) if self.total else 0

    def share(self, status: str) -> float:
        """Width of one outcome in the progress bar, in percent."""
        return round(100 * self.counters.get(status, 0) / self.total, 2) if self.total else 0.0

    @property
    def live(self) -> bool:
        return self.campaign.status in LIVE


def campaign_report(campaign_id: int) -> CampaignReport:
    campaign = campaigns.get_campaign(campaign_id)
    template = db.session.get(Template, campaign.template_id)
    return CampaignReport(
        campaign=campaign,
        template_name=template.name if template else "",
        counters=campaigns.counters(campaign_id),
        reasons=dict(sorted(campaigns.reasons(campaign_id).items(), key=lambda kv: -kv[1])),
        rsvps=rsvps.count_of(campaign),
        waiting=_waiting(campaign_id),
        quiet_hours=str(send_time.quiet_hours(profile().purpose(campaign.purpose_key)) or ""),
    )


def _waiting(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.reason, func.count())
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status == DeliveryStatus.DEFERRED,
            Delivery.reason.in_([Held.LOCAL_TIME, Held.QUIET_HOURS, ab_tests.HELD]),
        )
        .group_by(Delivery.reason)
    )
    return {str(reason): int(count) for reason, count in rows}


def list_campaigns(status: str = "") -> list[tuple[Campaign, dict[str, int]]]:
    statement = select(Campaign).order_by(Campaign.id.desc()).limit(200)
    if status:
        statement = statement.where(Campaign.status == status)
    found = list(db.session.scalars(statement))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if found:
        rows = db.session.execute(
            select(Delivery.campaign_id, Delivery.status, func.count())
            .where(Delivery.campaign_id.in_([c.id for c in found]))
            .group_by(Delivery.campaign_id, Delivery.status)
        )
        for campaign_id, delivery_status, count in rows:
            counts[int(campaign_id)][str(delivery_status)] = int(count)
    return [(campaign, counts[campaign.id]) for campaign in found]


DELIVERY_STATUSES = tuple(s.value for s in DeliveryStatus)


def report_rows(
    campaign_id: int, after_id: int, limit: int, status: str = ""
) -> list[tuple[Delivery, str | None]]:
    """The report's rows one page at a time (by delivery id), each with the contact's
    external_ref: the same ledger rows the CSV export lists, for the API."""
    campaign = campaigns.get_campaign(campaign_id)
    statement = (
        select(Delivery, Contact.external_ref)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign.id, Delivery.id > after_id)
    )
    if status:
        statement = statement.where(Delivery.status == status)
    rows = db.session.execute(statement.order_by(Delivery.id).limit(limit))
    return [(delivery, external_ref) for delivery, external_ref in rows]


CSV_CHUNK_ROWS = 5000  # rows fetched from the server-side cursor and written per chunk


def report_csv(access: Access, campaign_id: int) -> Iterator[str]:
    """One row per ledger entry; contact columns only as far as the role may see them.

    The export is audited (with its row count) in the caller's unit of work; the rows are then
    streamed in chunks from a server-side cursor on a connection of their own, as plain tuples,
    so a 700,000-row report neither waits for the whole file nor holds ORM objects per row
    (bench/admin_scale.py measures it).
    """
    access.require("campaigns.view")
    campaign = campaigns.get_campaign(campaign_id)
    contact_columns = [c for c in EXPORT_COLUMNS if access.sees(c)]
    count = int(
        db.session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign.id)
        )
        or 0
    )
    access.audit("campaigns.report_export", "campaign", campaign.id, rows=count,
                 columns=contact_columns)  # fmt: skip
    db.session.flush()
    return _csv_chunks(db.engine, campaign.id, contact_columns)


def report_query(campaign_id: int, contact_columns: list[str]) -> Any:
    return (
        select(
            Delivery.id, Contact.id, *[getattr(Contact, c) for c in contact_columns],
            Delivery.status, Delivery.reason, Delivery.smtp_code, Delivery.smtp_message,
            Delivery.sent_at,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id)
        .order_by(Delivery.id)
    )  # fmt: skip


def _csv_chunks(engine: Engine, campaign_id: int, contact_columns: list[str]) -> Iterator[str]:
    out = io.StringIO()
    # "\n" ends a row, as PostgreSQL's COPY writes them: both paths make the same file.
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["delivery_id", "contact_id", *contact_columns, "status", "reason", "smtp_code",
         "smtp_message", "sent_at"]
    )  # fmt: skip
    yield "\ufeff" + out.getvalue()
    if engine.dialect.name == "postgresql":
        yield from report_copy.copied_rows(engine, campaign_id, contact_columns)
    else:
        yield from written_rows(engine, report_query(campaign_id, contact_columns), contact_columns)


def written_rows(engine: Engine, query: Any, contact_columns: list[str]) -> Iterator[str]:
    """The rows formatted here (SQLite), in chunks read from a server-side cursor."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    shown = len(contact_columns)
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=CSV_CHUNK_ROWS).execute(query)
        for chunk in result.partitions():
            out.seek(0)
            out.truncate()
            for row in chunk:
                status, reason, code, message, sent_at = row[2 + shown :]
                writer.writerow(
                    [row[0], row[1], *[csv_value(v) for v in row[2 : 2 + shown]], status,
                     reason or "", code or "", csv_value(message or ""),
                     sent_at.isoformat() if sent_at else ""]
                )  # fmt: skip
            yield out.getvalue()
