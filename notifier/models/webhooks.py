"""Outgoing webhooks: the endpoints staff configure, the outbox of events, and one delivery row
per (endpoint, event) that the workers send, retry and log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from notifier.infra.extensions import db
from notifier.models.types import UTCDateTime, utcnow


class WebhookStatus(StrEnum):
    PENDING = "pending"  # not yet delivered; next_attempt_at says when to try again
    DELIVERED = "delivered"
    FAILED = "failed"  # retries exhausted: left for a human to look at (redeliver)


class WebhookEndpoint(db.Model):  # type: ignore[name-defined]
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Kept as it is, not hashed: each delivery is signed with it. Shown once, at creation or
    # rotation; pages and the API never show it again.
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why it was disabled, for staff: set when notifier disables an endpoint failing for too long.
    disabled_note: Mapped[str] = mapped_column(String(500), default="")
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookEvent(db.Model):  # type: ignore[name-defined]
    """The outbox: written in the same transaction as the change it reports, so a rolled-back
    change leaves no event and a committed one is never lost. The id is what receivers dedup on."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(db.Model):  # type: ignore[name-defined]
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"))
    status: Mapped[str] = mapped_column(String(16), default=WebhookStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A worker's claim on an attempt: while it lasts no other worker sends this row; a worker
    # killed mid-request leaves it to run out, then the scheduler hands the row out again.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_response: Mapped[str] = mapped_column(String(500), default="")
    last_error: Mapped[str] = mapped_column(String(500), default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
    )
