"""The services a contact holds, as billing knows them (rules in domain/subscriptions.py), and
the reminders of their expiry (rules in domain/reminders.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from notifier.infra.extensions import db
from notifier.models.sending import BigId
from notifier.models.types import UTCDateTime, utcnow


class Subscription(db.Model):  # type: ignore[name-defined]
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who told us (the API key's name, or the import's --source): ids are unique within it, so
    # two systems' "123" never meet, and one system cannot read or change another's rows.
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(100))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(100), default="")
    expires_on: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    renewal_url: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="active")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_subscriptions_source_external_id"),
        # A batch's subscriptions are read by contact; the audience by status and expiry.
        Index("ix_subscriptions_contact_id", "contact_id"),
        Index("ix_subscriptions_status_expires_on", "status", "expires_on"),
    )


class ReminderStatus:
    PENDING = "pending"  # the row exists; its notice does not yet
    QUEUED = "queued"  # its notice exists (the notice's status says what became of it)
    SENT = "sent"
    CANCELLED = "cancelled"  # renewed, cancelled, expired, or missed (see `reason`)


class ReminderSchedule(db.Model):  # type: ignore[name-defined]
    """A notice type's reminder days relative to each subscription's expiry (domain/reminders)."""

    __tablename__ = "reminder_schedules"

    notice_type: Mapped[str] = mapped_column(
        ForeignKey("notice_types.key", ondelete="CASCADE"), primary_key=True
    )
    steps: Mapped[list[int]] = mapped_column(JSON, default=list)
    local_hour: Mapped[int] = mapped_column(Integer, default=9)
    paused: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Reminder(db.Model):  # type: ignore[name-defined]
    """The ledger of reminders: one row per (type, subscription, expiry date, step), ever, which
    the database guarantees however many schedulers race to make it."""

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notice_type: Mapped[str] = mapped_column(ForeignKey("notice_types.key", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    expires_on: Mapped[date] = mapped_column(Date)
    step: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ReminderStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(64))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint(
            "notice_type", "subscription_id", "expires_on", "step", name="uq_reminders_once"
        ),
        # The rounds read the open ones (pending, queued); a subscription's own for cancelling.
        Index("ix_reminders_status_expires_on", "status", "expires_on"),
        Index("ix_reminders_subscription_id", "subscription_id"),
        Index("ix_reminders_notice_id", "notice_id"),
    )
