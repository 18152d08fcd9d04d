"""Create and update contacts with every field checked; nothing half-written on a bad field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.domain.addresses import InvalidAddress, normalise_email
from notifier.domain.errors import Conflict, NotFound, ValidationFailed
from notifier.domain.profile import LOCALES
from notifier.infra.context import suppression_salt
from notifier.infra.extensions import db
from notifier.infra.hashing import address_hash
from notifier.models import Contact, ContactTag

TEXT_LIMITS = {
    "name": 200, "address": 500, "organisation": 200, "contact_person": 200,
}  # fmt: skip
PHONE = re.compile(r"^\+?[0-9 ().-]{6,20}$")
NATIONAL_ID = re.compile(r"^[0-9]{9}([0-9]{3})?$")  # CMND (9 digits) or CCCD (12 digits)
TAG = re.compile(r"^[\w.-]{1,64}$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
EDITABLE = frozenset(
    {
        "email", "name", "phone", "address", "organisation", "contact_person", "national_id",
        "birth_date", "locale", "time_zone", "external_ref", "contract_ends_on", "attributes",
        "deal", "tags",
    }
)  # fmt: skip


def clean_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every field and return them normalised; raises ValidationFailed naming each."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for field, value in data.items():
        if field not in EDITABLE:
            errors[field] = "unknown field"
            continue
        try:
            cleaned[field] = _clean(field, value)
        except ValueError as exc:
            errors[field] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _clean(field: str, value: Any) -> Any:
    if field == "email":
        try:
            return normalise_email(str(value))
        except InvalidAddress as exc:
            raise ValueError(str(exc)) from None
    if field in TEXT_LIMITS:
        return _text(value, TEXT_LIMITS[field])
    if field == "phone":
        text = _text(value, 40)
        if text and not PHONE.match(text):
            raise ValueError("use digits, spaces and + ( ) - only, 6 to 20 characters")
        return text
    if field == "national_id":
        text = _text(value, 20).replace(" ", "")
        if text and not NATIONAL_ID.match(text):
            raise ValueError("a national ID number has 9 or 12 digits")
        return text
    if field in ("birth_date", "contract_ends_on"):
        return _date(value)
    if field == "locale":
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value
    if field == "time_zone":
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return str(value)
    if field == "external_ref":
        text = _text(value, 100)
        return text or None
    if field in ("attributes", "deal"):
        if not isinstance(value, dict):
            raise ValueError("must be an object of names to values")
        return dict(value)
    return _tags(value)


def _text(value: Any, limit: int) -> str:
    text = "" if value is None else str(value).strip()
    if CONTROL.search(text) or "\n" in text or "\r" in text:
        raise ValueError("contains control characters or line breaks")
    if len(text) > limit:
        raise ValueError(f"is longer than {limit} characters")
    return text


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _tags(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    tags = sorted({str(t).strip().lower() for t in items if str(t).strip()})
    bad = [t for t in tags if not TAG.match(t)]
    if bad:
        raise ValueError(f"bad tag {bad[0]!r}: letters, digits, . _ - only, 64 at most")
    return tags


def apply_fields(contact: Contact, cleaned: Mapping[str, Any]) -> None:
    for field, value in cleaned.items():
        if field == "tags":
            set_tags(contact, value)
        elif field == "email":
            contact.email = value
            contact.address_hash = address_hash(suppression_salt(), value)
        else:
            setattr(contact, field, value)


def set_tags(contact: Contact, tags: Iterable[str]) -> None:
    wanted = set(tags)
    contact.tags = [t for t in contact.tags if t.tag in wanted]
    have = {t.tag for t in contact.tags}
    contact.tags.extend(ContactTag(tag=t) for t in sorted(wanted - have))


def find_by_email(email: str) -> Contact | None:
    return db.session.scalar(db.select(Contact).where(Contact.email == email))


def find_by_external_ref(ref: str) -> Contact | None:
    return db.session.scalar(db.select(Contact).where(Contact.external_ref == ref))


def stage_contact(data: Mapping[str, Any]) -> tuple[Contact, bool]:
    """Upsert by email (or external_ref) in the caller's transaction; True when created."""
    cleaned = clean_fields(data)
    if "email" not in cleaned:
        raise ValidationFailed({"email": "is required"})
    contact = find_by_email(cleaned["email"])
    ref = cleaned.get("external_ref")
    if contact is None and ref:
        contact = find_by_external_ref(ref)
    if contact is not None and ref and contact.external_ref not in (None, ref):
        raise Conflict(f"{cleaned['email']} already belongs to external_ref {contact.external_ref}")
    if ref and (contact is None or contact.external_ref is None):
        owner = find_by_external_ref(ref)
        if owner is not None and owner is not contact:
            raise Conflict(f"external_ref {ref} belongs to another contact")
    created = contact is None
    if contact is None:
        contact = Contact(locale="vi", attributes={}, deal={})
        db.session.add(contact)
    apply_fields(contact, cleaned)
    db.session.flush()
    return contact, created


def save_contact(data: Mapping[str, Any]) -> Contact:
    contact, _ = stage_contact(data)
    db.session.flush()
    return contact


def update_contact(contact_id: int, data: Mapping[str, Any]) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.erased_at is not None:
        raise NotFound(f"contact {contact_id}")
    cleaned = clean_fields(data)
    if "email" in cleaned:
        other = find_by_email(cleaned["email"])
        if other is not None and other.id != contact.id:
            raise Conflict(f"{cleaned['email']} belongs to another contact")
    apply_fields(contact, cleaned)
    db.session.flush()
    return contact
