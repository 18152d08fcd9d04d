"""Registrations for event campaigns through their RSVP links (rules in domain/rsvp.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from notifier.infra.extensions import db
from notifier.models.sending import BigId
from notifier.models.types import UTCDateTime, utcnow


class Rsvp(db.Model):  # type: ignore[name-defined]
    """One row per (campaign, contact), ever, which the database guarantees however many
    requests race; a cancelled one keeps its row (and may be taken up again)."""

    __tablename__ = "rsvps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # A copy of the campaign's start: the reminder round reads a plain indexed column.
    event_starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", name="uq_rsvps_once"),
        # The reminder round: the open ones whose event starts soon.
        Index("ix_rsvps_reminded_at_event_starts_at", "reminded_at", "event_starts_at"),
        Index("ix_rsvps_contact_id", "contact_id"),
    )
