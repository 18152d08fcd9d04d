"""Refusals by email whose sender is not authenticated: they apply once the address confirms.

A From header is easy to forge, so mail to the unsubscribe mailbox that carries no valid token
and no aligned DKIM or SPF pass only sends the From address a signed, expiring link; the refusal
is recorded when that link's page is confirmed (Decree 91/2020 Art 20(2), without letting anyone
unsubscribe anyone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from notifier.contacts import refusals
from notifier.contacts.consent_ledger import Evidence
from notifier.delivery import system_mail
from notifier.domain.errors import DomainError, NotFound
from notifier.infra.context import public_base_url, token_secret
from notifier.infra.extensions import db
from notifier.models import ConsentSource, SystemMail, SystemMailKind
from notifier.privacy.requests import Requester

LINK_MAX_AGE = timedelta(days=7)
# Forged mail must not turn the mailbox into a way to flood someone: one question a day at most.
ASK_AGAIN_AFTER = timedelta(hours=24)
_SALT = "notifier/refusal-check/v1"


class LinkExpired(DomainError):
    """The confirmation link is older than LINK_MAX_AGE."""


@dataclass(frozen=True)
class Pending:
    contact_id: int
    purpose_key: str | None  # None: all advertising
    reference: str  # the message that asked


def ask(contact_id: int, purpose_key: str | None, reference: str, now: datetime) -> bool:
    """Queue the question to the contact's address, unless one left recently; commits."""
    contact = refusals.locked_contact(contact_id)
    recent = db.session.scalar(
        db.select(SystemMail.id)
        .where(
            SystemMail.contact_id == contact.id,
            SystemMail.kind == SystemMailKind.REFUSAL_CHECK,
            SystemMail.created_at > now - ASK_AGAIN_AFTER,
        )
        .limit(1)
    )
    if recent is not None or not contact.email:
        db.session.flush()
        return False
    signed = _serializer().dumps({"c": contact.id, "p": purpose_key, "r": reference[:200]})
    base = public_base_url()
    system_mail.queue_mail(
        SystemMailKind.REFUSAL_CHECK,
        contact.email,
        contact.locale,
        {
            "link": f"{base}/r/{signed}",
            "received_at": now.isoformat(),
            "expires_at": (now + LINK_MAX_AGE).isoformat(),
            "time_zone": contact.time_zone,
        },
        contact_id=contact.id,
    )
    db.session.flush()
    return True


def read(signed: str) -> Pending:
    """NotFound for a link we did not make, LinkExpired for one too old."""
    try:
        claims = _serializer().loads(signed, max_age=int(LINK_MAX_AGE.total_seconds()))
    except SignatureExpired:
        raise LinkExpired("refusal confirmation link expired") from None
    except BadSignature:
        raise NotFound("unknown refusal confirmation link") from None
    return Pending(int(claims["c"]), claims["p"], str(claims["r"]))


def confirm(signed: str, requester: Requester) -> refusals.Refusal:
    """The person confirmed: the refusal applies now, with its usual single confirmation mail."""
    pending = read(signed)
    evidence = Evidence(
        source=ConsentSource.EMAIL,
        locale=requester.locale,
        ip=requester.ip,
        user_agent=requester.user_agent,
        reference=f"{pending.reference}; confirmed by link",
    )
    return refusals.refuse(pending.contact_id, pending.purpose_key, evidence)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(token_secret(), salt=_SALT)
