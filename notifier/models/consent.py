"""The append-only consent ledger and the current state derived from it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from notifier.infra.extensions import db
from notifier.models.types import UTCDateTime, utcnow


class ConsentAction(StrEnum):
    REQUEST = "request"  # double opt-in mail sent; pending until confirmed
    GRANT = "grant"
    WITHDRAW = "withdraw"


class ConsentSource(StrEnum):
    WEB_FORM = "web_form"
    SIGNUP = "signup"
    PREFERENCE_CENTER = "preference_center"
    HOTLINE = "hotline"
    STAFF = "staff"
    IMPORT = "import"
    API = "api"
    UNSUBSCRIBE_LINK = "unsubscribe_link"
    ONE_CLICK = "one_click"
    EMAIL = "email"
    PHONE = "phone"
    COMPLAINT = "complaint"
    ERASURE = "erasure"


class Purpose(db.Model):  # type: ignore[name-defined]
    """A purpose of the active profile, mirrored so SQL can join on it; the profile rules."""

    __tablename__ = "purposes"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    legal_basis: Mapped[str] = mapped_column(String(32))
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    notice_version: Mapped[str] = mapped_column(String(64))
    max_per_week: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)


class ConsentEvent(db.Model):  # type: ignore[name-defined]
    """One row per grant, request or withdrawal; database triggers forbid rewriting it."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    purpose_key: Mapped[str] = mapped_column(ForeignKey("purposes.key"))
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the person acted
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notice_version: Mapped[str | None] = mapped_column(String(64))
    notice_sha256: Mapped[str | None] = mapped_column(ForeignKey("notice_texts.sha256"))
    locale: Mapped[str | None] = mapped_column(String(8))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    agreed_daily_cap: Mapped[int | None] = mapped_column(Integer)
    confirmation_token_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_consent_events_contact_purpose", "contact_id", "purpose_key"),)


class ConsentState(db.Model):  # type: ignore[name-defined]
    """The latest event per (contact, purpose), kept in step by the consent service for fast SQL."""

    __tablename__ = "consent_states"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    purpose_key: Mapped[str] = mapped_column(ForeignKey("purposes.key"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[int] = mapped_column(ForeignKey("consent_events.id"))
    agreed_daily_cap: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_consent_states_purpose_status", "purpose_key", "status"),)
