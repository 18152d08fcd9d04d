"""The services a contact holds, as billing knows them; rules in domain/subscriptions.py."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from notifier.infra.extensions import db
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
