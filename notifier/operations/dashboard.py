"""The dashboard's numbers: campaigns in flight, mail per day, the rates mailbox providers watch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select

from notifier.domain.bounces.model import Kind
from notifier.feedback.rates import BOUNCES
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import (
    Campaign,
    CampaignStatus,
    ConsentEvent,
    ConsentSource,
    MailFeedback,
    PrivacyRequest,
    SendLog,
)

DAYS = 14
WINDOW = timedelta(days=30)
DUE_SOON = timedelta(days=3)
OPEN_REQUEST = ("received", "acknowledged")
UNSUBSCRIBE_SOURCES = (ConsentSource.UNSUBSCRIBE_LINK, ConsentSource.ONE_CLICK, ConsentSource.EMAIL)
# (warn, bad) as fractions. Complaints: Gmail asks for < 0.1% and never >= 0.3% (2024 rules).
THRESHOLDS = {"complaints": (0.001, 0.003), "bounces": (0.02, 0.05), "unsubscribes": (0.005, 0.01)}
# Below this many messages a rate says nothing: one unsubscribe in a demo of 40 is not a list
# problem, and reports about older mail can outnumber what the window sent. Mailbox providers
# likewise judge a sender only on volume (Google Postmaster Tools shows no rates below ~100 a day).
MIN_SENT = 200


@dataclass(frozen=True)
class Rate:
    key: str
    count: int
    sent: int
    warn: float
    bad: float

    @property
    def value(self) -> float:
        return self.count / self.sent if self.sent else 0.0

    @property
    def measurable(self) -> bool:
        return self.sent >= MIN_SENT and self.count <= self.sent

    @property
    def level(self) -> str:
        """ok, warn or bad; "few" when too little was sent to judge, so nothing alarms."""
        if not self.measurable:
            return "few"
        if self.value >= self.bad:
            return "bad"
        return "warn" if self.value >= self.warn else "ok"


@dataclass(frozen=True)
class Overview:
    running: list[Campaign]
    scheduled: list[Campaign]
    per_day: list[tuple[datetime, int]]
    rates: list[Rate]
    sent_in_window: int
    privacy_due: list[PrivacyRequest]


def overview(now: datetime) -> Overview:
    sent = _count(select(func.count()).where(SendLog.sent_at >= now - WINDOW))
    counts = {
        # From the bounce and complaint reports received, as mailbox providers count them.
        "complaints": _count(
            select(func.count()).where(
                MailFeedback.kind == Kind.COMPLAINT, MailFeedback.received_at >= now - WINDOW
            )
        ),
        "bounces": _count(
            select(func.count()).where(
                MailFeedback.kind.in_(BOUNCES), MailFeedback.received_at >= now - WINDOW
            )
        ),
        "unsubscribes": _count(
            select(func.count()).where(
                ConsentEvent.action == "withdraw",
                ConsentEvent.source.in_(UNSUBSCRIBE_SOURCES),
                ConsentEvent.occurred_at >= now - WINDOW,
            )
        ),
    }
    rates = [Rate(key, counts[key], sent, *THRESHOLDS[key]) for key in THRESHOLDS]
    return Overview(
        running=_campaigns(CampaignStatus.SENDING, CampaignStatus.PAUSED),
        scheduled=_campaigns(CampaignStatus.SCHEDULED),
        per_day=sent_per_day(now),
        rates=rates,
        sent_in_window=sent,
        privacy_due=_privacy_due(now),
    )


def _count(statement: object) -> int:
    return int(db.session.scalar(statement) or 0)  # type: ignore[call-overload]


def _campaigns(*statuses: CampaignStatus) -> list[Campaign]:
    return list(
        db.session.scalars(
            select(Campaign)
            .where(Campaign.status.in_(statuses))
            .order_by(Campaign.send_at.is_(None), Campaign.send_at, Campaign.id)
            .limit(20)
        )
    )


def sent_per_day(now: datetime) -> list[tuple[datetime, int]]:
    """Messages sent on each of the last DAYS local days, counted in one pass over the log."""
    zone = ZoneInfo(profile().default_time_zone)
    today = datetime.combine(now.astimezone(zone).date(), time(), zone)
    starts = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    bounds = [*starts, today + timedelta(days=1)]
    columns = [
        func.sum(case((and_(SendLog.sent_at >= lo, SendLog.sent_at < hi), 1), else_=0))
        for lo, hi in pairwise(bounds)
    ]
    row = db.session.execute(select(*columns).where(SendLog.sent_at >= bounds[0])).one()
    return [(start, int(value or 0)) for start, value in zip(starts, row, strict=True)]


def _privacy_due(now: datetime) -> list[PrivacyRequest]:
    return list(
        db.session.scalars(
            select(PrivacyRequest)
            .where(
                PrivacyRequest.status.in_(OPEN_REQUEST),
                PrivacyRequest.complete_by <= now + DUE_SOON,
            )
            .order_by(PrivacyRequest.complete_by)
            .limit(20)
        )
    )
