"""Templates, campaigns, the delivery ledger, notices, and the log the frequency cap reads."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from notifier.domain.locales import DEFAULT_LOCALE, LOCALES, Variant, Variants
from notifier.infra.extensions import db
from notifier.models.types import UTCDateTime, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class CampaignKind(StrEnum):
    PROMOTION = "promotion"
    EVENT = "event"
    RENEWAL = "renewal"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DEFERRED = "deferred"  # waiting for the cap window or an SMTP 4xx retry
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNKNOWN = "unknown"  # in flight on a connection that died: maybe delivered
    BOUNCED = "bounced"  # sent, then a bounce came back (reason: hard_bounce or soft_bounce)


class _HasVariants:
    """The Vietnamese variant, required, is `subject`, `body_mjml` and `text`; every other
    locale's lives in `variants` as {"en": {"subject": ..., "body_mjml": ..., "text": ...}}."""

    if TYPE_CHECKING:  # the mapped columns of the classes below
        subject: Mapped[str]
        body_mjml: Mapped[str]
        text: Mapped[str | None]
        variants: Mapped[dict[str, Any]]

    def sources(self) -> Variants:
        """Every variant, the Vietnamese first (see notifier/domain/locales.py)."""
        found = [(DEFAULT_LOCALE, Variant(self.subject, self.body_mjml, self.text))]
        for locale in LOCALES:
            stored = (self.variants or {}).get(locale)
            if locale != DEFAULT_LOCALE and isinstance(stored, dict):
                found.append((locale, variant_of(stored)))
        return tuple(found)

    def set_sources(self, variants: Variants) -> None:
        chosen = dict(variants)
        vietnamese = chosen.pop(DEFAULT_LOCALE)
        self.subject, self.body_mjml, self.text = (
            vietnamese.subject, vietnamese.body_mjml, vietnamese.text,
        )  # fmt: skip
        self.variants = {locale: stored_variant(v) for locale, v in chosen.items()}


def variant_of(stored: dict[str, Any]) -> Variant:
    return Variant(str(stored["subject"]), str(stored["body_mjml"]), stored.get("text"))


def stored_variant(variant: Variant) -> dict[str, Any]:
    return {"subject": variant.subject, "body_mjml": variant.body_mjml, "text": variant.text}


class Template(_HasVariants, db.Model):  # type: ignore[name-defined]
    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    purpose_key: Mapped[str] = mapped_column(ForeignKey("purposes.key"))
    subject: Mapped[str] = mapped_column(String(500))
    body_mjml: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    variants: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TemplateVersion(_HasVariants, db.Model):  # type: ignore[name-defined]
    """Every saved version, with all its variants, so a campaign can name exactly what it sent."""

    __tablename__ = "template_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(500))
    body_mjml: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    variants: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    saved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("template_id", "version"),)


class Campaign(db.Model):  # type: ignore[name-defined]
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    purpose_key: Mapped[str] = mapped_column(ForeignKey("purposes.key"))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    template_version: Mapped[int | None] = mapped_column(Integer)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # event date, place, ...
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    # Sent "at 09:00 local": this wall-clock time, read in each recipient's own zone (send_at is
    # then its earliest moment anywhere). None: one moment, send_at, for everyone.
    local_send_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An A/B subject test (docs/ab-tests.md): its settings as staff gave them (domain/ab_test.py
    # Settings.stored), then the pick's reason and counts; None for every other campaign.
    ab_test: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When the winner is due (the sample's release plus the wait), and the winner: the pick is
    # one UPDATE conditional on ab_winner IS NULL, so two schedulers pick once.
    ab_decide_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ab_winner: Mapped[int | None] = mapped_column(SmallInteger)

    __table_args__ = (Index("ix_campaigns_status_send_at", "status", "send_at"),)


class Delivery(db.Model):  # type: ignore[name-defined]
    """The send ledger: one row per (campaign, contact), ever; it accounts for everyone."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(64))
    consent_event_id: Mapped[int | None] = mapped_column(ForeignKey("consent_events.id"))
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    smtp_message: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # TRACK_CLICKS | TRACK_OPENS (domain/profile.py) when the consent notice the person agreed
    # to disclosed tracking; 0: the message's links and images were left as they were.
    tracking: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # The A/B test subject this person got (1 = A ...): the sample's, or the winner's for the
    # rest; None for a campaign without a test.
    variant: Mapped[int | None] = mapped_column(SmallInteger)

    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        # next_attempt_at last: the claim finds the deferred rows whose moment has come by range
        # (a campaign sent in each recipient's zone holds most of its rows deferred for hours).
        Index("ix_deliveries_campaign_status_next", "campaign_id", "status", "next_attempt_at"),
        Index("ix_deliveries_contact", "contact_id"),
    )


class NoticeType(db.Model):  # type: ignore[name-defined]
    """A kind of transactional notice the billing system may trigger (e.g. renewal)."""

    __tablename__ = "notice_types"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose_key: Mapped[str] = mapped_column(ForeignKey("purposes.key"))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    active: Mapped[bool] = mapped_column(default=True)


class NoticeStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNKNOWN = "unknown"
    BOUNCED = "bounced"


class Notice(db.Model):  # type: ignore[name-defined]
    """A transactional message (renewal notice, refusal confirmation), once per idempotency key."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    purpose_key: Mapped[str] = mapped_column(ForeignKey("purposes.key"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_sha256: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.QUEUED)
    reason: Mapped[str | None] = mapped_column(String(64))
    consent_event_id: Mapped[int | None] = mapped_column(ForeignKey("consent_events.id"))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(36))  # fences the result write
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    smtp_message: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(255))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_notices_status", "status"),)


class SendLog(db.Model):  # type: ignore[name-defined]
    """What was sent to whom and when, for the rolling 24 h cap and the disclosed frequency."""

    __tablename__ = "send_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    purpose_key: Mapped[str] = mapped_column(String(64))
    advertising: Mapped[bool] = mapped_column()
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivery_id: Mapped[int | None] = mapped_column(BigId)
    # The event that authorised it: the delivery gets it with its outcome, or from here when
    # its worker died first. No foreign key: this is a working copy, the delivery keeps the proof.
    consent_event_id: Mapped[int | None] = mapped_column(BigId)

    __table_args__ = (Index("ix_send_log_contact_sent", "contact_id", "sent_at"),)
