"""Service mail to contacts (refusal and request confirmations) and privacy request states."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from notifier.infra.extensions import db
from notifier.models.types import UTCDateTime, utcnow


class PrivacyRequestKind(StrEnum):
    EXPORT = "export"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    COMPLAINT = "complaint"
    CORRECTION = "correction"


class PrivacyRequestStatus(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    COMPLETED = "completed"
    REJECTED = "rejected"


class SystemMailKind(StrEnum):
    REFUSAL = "refusal"  # Decree 91/2020 Art 20(3): one confirmation per refusal
    OPT_IN = "opt_in"  # double opt-in confirmation link
    PRIVACY_ACK = "privacy_ack"
    EMAIL_CHANGE = "email_change"  # sent to the new address before it is used
    REFUSAL_CHECK = "refusal_check"  # a refusal by email whose sender was not authenticated
    VERIFY = "verify"  # a short-lived one-time link: proof of control of the address of record
    PREFERENCES_LINK = "pref_link"  # asked for from the unsubscribe page, sent to that address
    ADDRESS_CHANGED = "addr_changed"  # to the OLD address after an API change of it
    WELCOME = "welcome"  # after a double opt-in is confirmed: what comes, how often, how to stop
    RETENTION = "retention"  # the contract ended: when the data will be erased, what is kept
    RSVP_CONFIRMED = "rsvp_confirmed"  # a registration through an event campaign's RSVP link
    RSVP_REMINDER = "rsvp_reminder"  # the day before that event (domain/rsvp.py)


class SystemMailStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the address was erased before the mail left


class SystemMail(db.Model):  # type: ignore[name-defined]
    """One service email; never advertising, never counted toward the advertising cap."""

    __tablename__ = "system_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    privacy_request_id: Mapped[int | None] = mapped_column(ForeignKey("privacy_requests.id"))
    # Kept apart from the contact: an email change writes to an address not yet the contact's.
    to_address: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=SystemMailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(500), default="")
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(36))  # fences the result write
    # A 4xx retry waits until then (the policy's backoff), as notices and campaign mail do.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_system_mails_contact", "contact_id"),
        Index("ix_system_mails_status", "status"),
    )


class RetentionNoticeStatus(StrEnum):
    MAILED = "mailed"  # its system mail is queued, or has left or failed for good
    MISSED = "missed"  # seen more than a day after its moment: not sent late
    SKIPPED = "skipped"  # the address is suppressed for all mail (hard bounce, complaint)


class RetentionNotice(db.Model):  # type: ignore[name-defined]
    """Once per (contact, contract end date), ever: the retention purge waits for it."""

    __tablename__ = "retention_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    contract_ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    system_mail_id: Mapped[int | None] = mapped_column(
        ForeignKey("system_mails.id", ondelete="SET NULL")
    )
    erasure_on: Mapped[date] = mapped_column(Date)  # the day the notice named
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("contact_id", "contract_ends_on", name="uq_retention_notices_once"),
        Index("ix_retention_notices_system_mail_id", "system_mail_id"),
    )
