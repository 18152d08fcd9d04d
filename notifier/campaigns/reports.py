"""Campaign progress and final reports, and the report's CSV export (by role, audited)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select

from notifier.campaigns import lifecycle as campaigns
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
    )


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


def report_csv(access: Access, campaign_id: int) -> str:
    """One row per ledger entry; contact columns only as far as the role may see them."""
    access.require("campaigns.view")
    campaign = campaigns.get_campaign(campaign_id)
    contact_columns = [c for c in EXPORT_COLUMNS if access.sees(c)]
    rows = db.session.execute(
        select(Delivery, Contact)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign.id)
        .order_by(Delivery.id)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["delivery_id", "contact_id", *contact_columns, "status", "reason", "smtp_code",
         "smtp_message", "sent_at"]
    )  # fmt: skip
    count = 0
    for delivery, contact in rows:
        count += 1
        writer.writerow(
            [delivery.id, contact.id, *[csv_value(getattr(contact, c)) for c in contact_columns],
             delivery.status, delivery.reason or "", delivery.smtp_code or "",
             csv_value(delivery.smtp_message or ""),
             delivery.sent_at.isoformat() if delivery.sent_at else ""]
        )  # fmt: skip
    access.audit("campaigns.report_export", "campaign", campaign.id, rows=count,
                 columns=contact_columns)  # fmt: skip
    db.session.flush()
    return "\ufeff" + out.getvalue()
