"""Bounces and complaints received, and the decaying soft-bounce score of each address."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from notifier.infra.extensions import db
from notifier.models.sending import BigId
from notifier.models.types import UTCDateTime, utcnow


class MailFeedback(db.Model):  # type: ignore[name-defined]
    """One bounce or complaint acted on; a campaign's bounce and complaint rates count these."""

    __tablename__ = "mail_feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "<channel>:<id of the report or provider event>": a redelivered report is applied once.
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # notifier.domain.bounces.Kind
    category: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(16))  # smtp, webhook, ses, sendgrid, mailgun
    delivery_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("deliveries.id"))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    address_hash: Mapped[str | None] = mapped_column(String(64))  # as in suppressions
    status_code: Mapped[str | None] = mapped_column(String(16))
    diagnostic: Mapped[str] = mapped_column(String(300), default="")  # addresses redacted
    reporter: Mapped[str] = mapped_column(String(100), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_mail_feedback_campaign_kind", "campaign_id", "kind"),
        Index("ix_mail_feedback_received", "received_at"),
    )


class BounceScore(db.Model):  # type: ignore[name-defined]
    """Soft bounces of an address, halving every SOFT_BOUNCE_HALF_LIFE_DAYS (never the address)."""

    __tablename__ = "bounce_scores"

    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    bounces: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the latest status, redacted
