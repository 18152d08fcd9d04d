"""Proof of control of the address of record: short-lived one-time links, and the preference link.

A link in a forwarded email proves nothing about who holds it, so whatever reveals or changes a
person's data is done only from a link sent to the address of record moments before.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from notifier.contacts import preferences
from notifier.contacts.refusals import locked_contact
from notifier.delivery import system_mail
from notifier.domain.errors import DomainError, NotFound, ValidationFailed
from notifier.domain.tokens import (
    ExpiredToken,
    ExpiringClaims,
    InvalidToken,
    make_expiring_token,
    make_token,
    verify_expiring_token,
)
from notifier.infra.context import public_base_url, token_secret
from notifier.infra.extensions import db
from notifier.infra.translations import N_, gettext
from notifier.infra.unit_of_work import discard
from notifier.models import AuditEntry, Contact, PrivacyRequest, SystemMailKind, utcnow
from notifier.operations import audit
from notifier.privacy import requests as privacy
from notifier.privacy.requests import Requester

MAX_AGE = timedelta(minutes=30)
NONCE_BYTES = 12
# The audit row that records a link's use is also what refuses its second use.
USED = "privacy.link_used"


class Action(StrEnum):
    EXPORT = "export"
    ERASURE = "erasure"
    DETAILS = "details"  # self-service edits, verified corrections and an email change


ACTION_NAMES = {
    Action.EXPORT: N_("Download my data"),
    Action.ERASURE: N_("Erase my data"),
    Action.DETAILS: N_("Change my details"),
}


class LinkUsed(DomainError):
    """The one-time link was used already."""


class LinkExpired(DomainError):
    """The link is genuine but older than MAX_AGE."""


def _public_url(path: str, locale: str) -> str:
    base = public_base_url()
    return f"{base}{path}?lang={locale}"


def _mail_data(contact: Contact, link: str) -> dict[str, Any]:
    return {"link": link, "received_at": utcnow().isoformat(), "time_zone": contact.time_zone}


def _addressed(contact_id: int) -> Contact:
    contact = locked_contact(contact_id)
    if not contact.email:
        raise NotFound(f"address of contact {contact_id}")
    return contact


def send_link(contact_id: int, action: Action, requester: Requester) -> None:
    """Mail a one-time link for this action to the address of record, and nothing else."""
    contact = _addressed(contact_id)
    token = make_expiring_token(
        token_secret(), contact.id, f"verify:{action}", utcnow(), secrets.token_bytes(NONCE_BYTES)
    )
    locale = requester.locale if requester.locale in ("vi", "en") else "vi"
    data = _mail_data(contact, _public_url(f"/v/{action}/{token}", locale))
    data |= {
        "action_name": gettext(locale, ACTION_NAMES[action]),
        "minutes": int(MAX_AGE.total_seconds() // 60),
    }
    system_mail.queue_mail(
        SystemMailKind.VERIFY, str(contact.email), locale, data, contact_id=contact.id
    )
    audit.record(
        f"contact:{contact.id}",
        "privacy.link_sent",
        "contact",
        contact.id,
        {"action": action.value},
        ip=requester.ip,
    )
    db.session.flush()


def send_preferences_link(contact_id: int, requester: Requester) -> None:
    """The unsubscribe page hands out no preference link: it goes to the address of record."""
    contact = _addressed(contact_id)
    token = make_token(token_secret(), contact.id, None, "p")
    locale = requester.locale if requester.locale in ("vi", "en") else "vi"
    data = _mail_data(contact, _public_url(f"/p/{token}", locale))
    system_mail.queue_mail(
        SystemMailKind.PREFERENCES_LINK, str(contact.email), locale, data, contact_id=contact.id
    )
    db.session.flush()


def _claims(token: str, action: Action) -> ExpiringClaims:
    try:
        return verify_expiring_token(token_secret(), token, f"verify:{action}", utcnow(), MAX_AGE)
    except ExpiredToken:
        raise LinkExpired("verification link expired") from None
    except InvalidToken:
        raise NotFound("verification link") from None


def _used(claims: ExpiringClaims) -> bool:
    found = db.session.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.actor == f"contact:{claims.contact_id}",
            AuditEntry.action == USED,
            AuditEntry.object_id == claims.nonce,
        )
        .limit(1)
    )
    return found is not None


def check(token: str, action: Action) -> Contact:
    """The contact a fresh, unused link names; changes nothing (link scanners open every URL)."""
    claims = _claims(token, action)
    contact = preferences.linked_contact(claims.contact_id)
    if _used(claims):
        raise LinkUsed("verification link already used")
    return contact


def _use(token: str, action: Action, requester: Requester) -> Contact:
    """In the caller's transaction: the contact, locked, and its link marked used."""
    claims = _claims(token, action)
    contact = locked_contact(claims.contact_id)
    if _used(claims):
        raise LinkUsed("verification link already used")
    audit.record(
        f"contact:{contact.id}",
        USED,
        "verification",
        claims.nonce,
        {"action": action.value},
        ip=requester.ip,
    )
    return contact


def export(token: str, requester: Requester) -> tuple[int, dict[str, Any]]:
    """The data, once per link; the use and the completed request commit together."""
    contact = _use(token, Action.EXPORT, requester)
    return contact.id, privacy.export(contact.id, requester)


def request_erasure(token: str, requester: Requester) -> tuple[Contact, PrivacyRequest]:
    contact = _use(token, Action.ERASURE, requester)
    return contact, privacy.request_erasure(contact.id, requester)


def change_details(
    token: str, data: dict[str, Any], requester: Requester
) -> tuple[Contact, preferences.ProfileChange]:
    """A refused value leaves the link unused, so the person can correct it and send again."""
    contact = _use(token, Action.DETAILS, requester)
    try:
        return contact, preferences.update_profile(contact.id, data, requester)
    except ValidationFailed:
        discard()
        raise
