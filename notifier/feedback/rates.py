"""Bounce and complaint rates per campaign and per day, and the pause they trigger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, distinct, func, select, update

from notifier.domain.bounces import Kind
from notifier.infra.context import profile, settings
from notifier.infra.extensions import db
from notifier.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, MailFeedback
from notifier.models.sending import SendLog

log = logging.getLogger(__name__)
# Everything that left: a bounce was sent first, and UNKNOWN may well have arrived.
REACHED = (DeliveryStatus.SENT, DeliveryStatus.BOUNCED, DeliveryStatus.UNKNOWN)


# Auto-replies and delay warnings are not bounces.
BOUNCES = (Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE)


@dataclass(frozen=True)
class Rates:
    sent: int
    bounces: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0


@dataclass(frozen=True)
class Limits:
    """(warn, pause) fractions from the settings; Gmail asks for complaints < 0.1%, never 0.3%."""

    complaints: tuple[float, float]
    bounces: tuple[float, float]
    min_sent: int

    @classmethod
    def from_settings(cls) -> Limits:
        config = settings()
        return cls(
            complaints=(config.COMPLAINT_RATE_WARN, config.COMPLAINT_RATE_PAUSE),
            bounces=(config.BOUNCE_RATE_WARN, config.BOUNCE_RATE_PAUSE),
            min_sent=config.RATE_MIN_SENT,
        )

    def level(self, rates: Rates) -> str:
        """ "pause", "warn" or "ok"; too few messages sent yet always reads "ok"."""
        if rates.sent < self.min_sent:
            return "ok"
        pairs = ((rates.complaint_rate, self.complaints), (rates.bounce_rate, self.bounces))
        if any(rate > pause for rate, (_, pause) in pairs):
            return "pause"
        return "warn" if any(rate > warn for rate, (warn, _) in pairs) else "ok"


def campaign_rates(campaign_id: int) -> Rates:
    sent = db.session.scalar(
        select(func.count()).where(
            Delivery.campaign_id == campaign_id, Delivery.status.in_(REACHED)
        )
    )
    bounces = db.session.scalar(
        select(func.count()).where(
            Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.BOUNCED
        )
    )
    complaints = db.session.scalar(
        select(func.count(distinct(MailFeedback.delivery_id))).where(
            MailFeedback.campaign_id == campaign_id, MailFeedback.kind == Kind.COMPLAINT
        )
    )
    return Rates(int(sent or 0), int(bounces or 0), int(complaints or 0))


def pause_on_rates(campaign_id: int) -> bool:
    """Pause a sending campaign whose bounce or complaint rate passed its limit; say why."""
    limits, rates = Limits.from_settings(), campaign_rates(campaign_id)
    level = limits.level(rates)
    if level == "ok":
        return False
    summary = (
        f"{rates.complaints} complaints ({rates.complaint_rate:.2%}) and {rates.bounces} bounces "
        f"({rates.bounce_rate:.2%}) of {rates.sent} sent"
    )
    if level == "warn":
        log.warning("campaign near its limits: %s", summary, extra={"campaign_id": campaign_id})
        return False
    paused = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
        .values(status=CampaignStatus.PAUSED, status_reason=f"paused: {summary}")
    )
    db.session.flush()
    if paused.rowcount:  # type: ignore[attr-defined]
        log.warning("campaign paused: %s", summary, extra={"campaign_id": campaign_id})
    return True


def daily_rates(now: datetime, days: int = 14) -> list[tuple[date, Rates]]:
    """Mail sent, bounced and complained about on each of the last `days` local days."""
    zone = ZoneInfo(profile().default_time_zone)
    today = now.astimezone(zone).date()
    starts = [
        datetime.combine(today - timedelta(days=days - 1 - i), time(), zone) for i in range(days)
    ]
    bounds = list(pairwise([*starts, starts[-1] + timedelta(days=1)]))
    sent = _per_day(SendLog.sent_at, bounds)
    bounces = _per_day(MailFeedback.received_at, bounds, MailFeedback.kind.in_(BOUNCES))
    complaints = _per_day(MailFeedback.received_at, bounds, MailFeedback.kind == Kind.COMPLAINT)
    return [
        (start.date(), Rates(*counts))
        for start, *counts in zip(starts, sent, bounces, complaints, strict=True)
    ]


def _per_day(column: Any, bounds: list[tuple[datetime, datetime]], *where: Any) -> list[int]:
    """One pass over the window: a CASE sum per day (the same SQL on SQLite and PostgreSQL)."""
    sums = [func.sum(case((and_(column >= lo, column < hi), 1), else_=0)) for lo, hi in bounds]
    row = db.session.execute(select(*sums).where(column >= bounds[0][0], *where)).one()
    return [int(value or 0) for value in row]
