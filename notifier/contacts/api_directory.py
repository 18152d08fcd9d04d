"""What a CRM reads and changes over the API besides single contacts: the contact list, the
suppression list. Lists are keyset-paged by id (ascending), so a page boundary never moves when
rows are inserted: new rows have higher ids and appear on a later page, never twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select

from notifier.contacts.consent_ledger import purpose_or_error
from notifier.domain.addresses import normalise_email
from notifier.domain.errors import Conflict, NotFound
from notifier.infra.context import profile, suppression_salt
from notifier.infra.extensions import db
from notifier.infra.hashing import address_hash
from notifier.models import Contact, ContactTag, Suppression, SuppressionReason
from notifier.operations import audit

# Scopes a suppression may have besides a purpose key (the claim reads the same words).
WIDE_SCOPES = ("all", "advertising")
# Reasons a client may give; erasure and bounces are recorded by the system itself.
CLIENT_REASONS = (SuppressionReason.MANUAL.value, SuppressionReason.COMPLAINT.value)


@dataclass(frozen=True)
class ContactFilter:
    text: str = ""
    tag: str = ""
    locale: str = ""


def _actor(api_key_id: int) -> str:
    return f"api:{api_key_id}"


def list_contacts(
    filters: ContactFilter, after_id: int, limit: int, api_key_id: int
) -> Sequence[Contact]:
    """Up to `limit` contacts after `after_id` that match; erased contacts are never listed."""
    statement = select(Contact).where(Contact.erased_at.is_(None), Contact.id > after_id)
    if filters.text:
        # Bound as a parameter and LIKE-escaped: % and _ in the search are plain characters.
        needle = filters.text.lower()
        statement = statement.where(
            or_(
                func.lower(Contact.email).contains(needle, autoescape=True),
                func.lower(Contact.name).contains(needle, autoescape=True),
            )
        )
    if filters.tag:
        statement = statement.where(
            exists().where(
                ContactTag.contact_id == Contact.id, ContactTag.tag == filters.tag.lower()
            )
        )
    if filters.locale:
        statement = statement.where(Contact.locale == filters.locale)
    found = db.session.scalars(statement.order_by(Contact.id).limit(limit)).all()
    # A list shows personal data: who read which contacts is audited as a single read is.
    audit.record(
        _actor(api_key_id), "contacts.list", "contact", "",
        {"text": filters.text[:200], "tag": filters.tag, "locale": filters.locale,
         "ids": [c.id for c in found]},
    )  # fmt: skip
    db.session.flush()
    return found


def scope_choices() -> list[str]:
    return [*WIDE_SCOPES, *(p.key for p in profile().purposes)]


def list_suppressions(after_id: int, limit: int) -> Sequence[Suppression]:
    return db.session.scalars(
        select(Suppression).where(Suppression.id > after_id).order_by(Suppression.id).limit(limit)
    ).all()


def add_suppression(
    email: str, scope: str, reason: str, note: str, api_key_id: int
) -> tuple[Suppression, bool]:
    """Suppress an address (kept only as its keyed hash); the same address and scope twice is
    the same suppression, answered again (created False)."""
    if scope not in WIDE_SCOPES:
        purpose_or_error(scope)
    digest = address_hash(suppression_salt(), normalise_email(email))
    found = db.session.scalar(
        select(Suppression).where(Suppression.address_hash == digest, Suppression.scope == scope)
    )
    if found is not None:
        return found, False
    suppression = Suppression(
        address_hash=digest,
        scope=scope,
        reason=reason,
        evidence={"source": "api", "api_key_id": api_key_id, "note": note},
    )
    db.session.add(suppression)
    db.session.flush()
    audit.record(
        _actor(api_key_id), "suppression.add", "suppression", suppression.id,
        {"scope": scope, "reason": reason, "note": note},
    )  # fmt: skip
    db.session.flush()
    return suppression, True


def suppression(suppression_id: int) -> Suppression:
    found = db.session.get(Suppression, suppression_id)
    if found is None:
        raise NotFound(f"suppression {suppression_id}")
    return found


def remove_suppression(suppression_id: int, api_key_id: int) -> None:
    """Lift a suppression, with an audit entry that keeps what it was. An erased person's
    suppression is what keeps them unmailed: it cannot be lifted."""
    suppression = db.session.get(Suppression, suppression_id)
    if suppression is None:
        raise NotFound(f"suppression {suppression_id}")
    if suppression.reason == SuppressionReason.ERASED.value:
        raise Conflict("the suppression of an erased contact cannot be lifted")
    audit.record(
        _actor(api_key_id), "suppression.remove", "suppression", suppression.id,
        {"scope": suppression.scope, "reason": suppression.reason,
         "address_hash": suppression.address_hash,
         "created_at": suppression.created_at.isoformat()},
    )  # fmt: skip
    db.session.delete(suppression)
    db.session.flush()
