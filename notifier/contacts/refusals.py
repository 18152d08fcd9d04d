"""Refusals through any channel: consent withdrawn at once, then exactly one confirmation email."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from notifier.contacts.consent_ledger import Evidence, advertising_keys, append_withdrawals
from notifier.delivery import system_mail
from notifier.domain.errors import NotFound
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import Contact, SystemMailKind, utcnow


@dataclass(frozen=True)
class Refusal:
    withdrawn: list[str]  # purpose keys that changed now; empty for a repeated refusal
    received_at: datetime
    confirmation_id: int | None

    @property
    def changed(self) -> bool:
        return bool(self.withdrawn)


def refuse(contact_id: int, purpose_key: str | None, evidence: Evidence) -> Refusal:
    """One purpose, or None for all advertising (Decree 91/2020 Art 20(1)); commits."""
    keys = advertising_keys() if purpose_key is None else [purpose_key]
    refusal = append_refusal(
        locked_contact(contact_id), keys, evidence, all_advertising=not purpose_key
    )
    db.session.flush()
    return refusal


def append_refusal(
    contact: Contact, purpose_keys: Iterable[str], evidence: Evidence, all_advertising: bool = False
) -> Refusal:
    """In the caller's transaction, which must hold the contact's row lock (locked_contact)."""
    received = evidence.occurred_at or utcnow()
    withdrawal = append_withdrawals(contact, purpose_keys, replace(evidence, occurred_at=received))
    keys = [event.purpose_key for event in withdrawal.events]
    if not keys or not contact.email:
        return Refusal(keys, received, None)
    locale = contact.locale if contact.locale in ("vi", "en") else "vi"
    purposes = [profile().purpose(key) for key in keys]
    mail = system_mail.queue_mail(
        SystemMailKind.REFUSAL,
        contact.email,
        locale,
        {
            "received_at": received.isoformat(),
            "time_zone": contact.time_zone,
            "channel": evidence.source.value,
            "purposes": [p.name.get(locale) for p in purposes],
            "advertising": any(p.is_advertising for p in purposes),
            "service": any(not p.is_advertising for p in purposes),
            "all_advertising": all_advertising,
        },
        contact_id=contact.id,
    )
    return Refusal(keys, received, mail.id)


def locked_contact(contact_id: int) -> Contact:
    """Row lock (PostgreSQL): two clicks at once still make one withdrawal and one email."""
    contact = db.session.scalar(
        db.select(Contact).where(Contact.id == contact_id).with_for_update()
    )
    if contact is None or contact.erased_at is not None:
        raise NotFound(f"contact {contact_id}")
    return contact
