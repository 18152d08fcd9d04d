"""Contacts, their tags and the suppression list."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from notifier.infra.extensions import db
from notifier.models.types import UTCDateTime, utcnow


class Contact(db.Model):  # type: ignore[name-defined]
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised by email-validator; NULL once erased (the suppression hash remains).
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    # Keyed hash of the address: joins the suppression list in set-based SQL.
    address_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    contact_person: Mapped[str] = mapped_column(String(200), default="")
    national_id: Mapped[str] = mapped_column(String(20), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    contract_ends_on: Mapped[date | None] = mapped_column(Date, index=True)  # the retention rounds
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deal: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # confidential deal data
    restricted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tags: Mapped[list[ContactTag]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", lazy="selectin"
    )

    # Contact search (contacts/directory.py) is lower(column) LIKE '%...%' on each column a role
    # may see; on PostgreSQL a trigram index on each answers it at a million contacts.
    __table_args__ = tuple(
        Index(
            f"ix_contacts_{column}_trgm",
            func.lower(text(column)),
            postgresql_using="gin",
            postgresql_ops={"lower_1": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql")
        for column in ("name", "email", "phone", "address", "organisation", "external_ref")
    )

    @property
    def tag_names(self) -> list[str]:
        return sorted(tag.tag for tag in self.tags)


class ContactTag(db.Model):  # type: ignore[name-defined]
    __tablename__ = "contact_tags"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact: Mapped[Contact] = relationship(back_populates="tags")

    __table_args__ = (Index("ix_contact_tags_tag", "tag"),)


class SuppressionReason(StrEnum):
    ERASED = "erased"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCES = "soft_bounces"
    COMPLAINT = "complaint"
    MANUAL = "manual"


class Suppression(db.Model):  # type: ignore[name-defined]
    """Addresses never to mail again, kept as a salted hash so erasure can still honour them."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(64))  # "all", "advertising" or a purpose key
    reason: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("address_hash", "scope"),)


class NoticeText(db.Model):  # type: ignore[name-defined]
    """Each consent notice text exactly as shown, stored once and referenced by its hash."""

    __tablename__ = "notice_texts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
