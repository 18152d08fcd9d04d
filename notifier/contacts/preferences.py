"""The preference center: choices per purpose, self-service edits, corrections, email change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from notifier.contacts import consent_ledger as consent
from notifier.contacts.contacts import apply_fields, clean_fields, find_by_email
from notifier.contacts.refusals import append_refusal, locked_contact
from notifier.contacts.signup import queue_opt_in
from notifier.delivery import system_mail
from notifier.delivery.eligibility import rule_for, standings_for
from notifier.domain.consent_rules import ConsentFacts, ConsentStatus, Reason, chosen
from notifier.domain.errors import Conflict, NotFound, ValidationFailed
from notifier.domain.profile import Purpose
from notifier.infra.context import profile, public_base_url, token_secret
from notifier.infra.extensions import db
from notifier.models import (
    ConsentEvent,
    ConsentSource,
    Contact,
    NoticeText,
    PrivacyRequestKind,
    SystemMailKind,
    utcnow,
)
from notifier.operations import audit
from notifier.privacy.requests import Requester, open_request

EMAIL_CHANGE_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True)
class Choice:
    purpose: Purpose
    status: ConsentStatus
    # Whether the purpose's mail reaches the person now (ALLOWED) or why not; the admin's contact
    # pages show the same value (notifier/domain/consent_rules.standing).
    standing: Reason = Reason.ALLOWED

    @property
    def on(self) -> bool:
        """The person's own choice: contract mail flows until refused, consent purposes only
        once granted. The switch shows this; facts such as an ended contract do not move it."""
        return chosen(rule_for(self.purpose), ConsentFacts(self.status))

    @property
    def pending(self) -> bool:
        return self.status is ConsentStatus.PENDING

    @property
    def receiving(self) -> bool:
        return self.standing is Reason.ALLOWED


@dataclass(frozen=True)
class ChoiceResult:
    withdrawn: list[str]
    requested: list[str]  # double opt-in mail sent
    granted: list[str]


@dataclass(frozen=True)
class ProfileChange:
    applied: list[str]
    email_pending: str | None
    correction_id: int | None


def choices(contact_id: int) -> list[Choice]:
    current = consent.states(contact_id)
    contact = db.session.get(Contact, contact_id)
    standings = standings_for([contact], utcnow().date())[contact_id] if contact else {}
    return [
        Choice(p, current[p.key], standings.get(p.key, Reason.ERASED)) for p in profile().purposes
    ]


def save_choices(contact_id: int, wanted: set[str], requester: Requester) -> ChoiceResult:
    """Every change is a new ledger event; turning advertising on waits for the email link."""
    unknown = wanted - {p.key for p in profile().purposes}
    if unknown:
        raise ValidationFailed({"purposes": f"unknown purpose {sorted(unknown)[0]!r}"})
    contact = locked_contact(contact_id)
    evidence = consent.Evidence(
        source=ConsentSource.PREFERENCE_CENTER,
        locale=requester.locale,
        ip=requester.ip,
        user_agent=requester.user_agent,
    )
    current = choices(contact_id)
    off = [c.purpose.key for c in current if (c.on or c.pending) and c.purpose.key not in wanted]
    refusal = append_refusal(contact, off, evidence)
    tokens, granted = {}, []
    for choice in current:
        key = choice.purpose.key
        if key not in wanted or choice.on or choice.pending:
            continue
        shown = replace(evidence, notice_version=choice.purpose.notice_version)
        if choice.purpose.is_advertising:
            token = consent.append_request(contact, key, shown)
            if token is not None:
                tokens[key] = token
        elif consent.append_grant(contact, key, shown) is not None:
            granted.append(key)
    queue_opt_in(contact, tokens, requester.locale)
    db.session.flush()
    return ChoiceResult(refusal.withdrawn, list(tokens), granted)


def update_profile(contact_id: int, data: Mapping[str, Any], requester: Requester) -> ProfileChange:
    """Self-editable fields apply now; verified ones become a correction request; email waits."""
    active = profile()
    refused = {
        f: "cannot be changed here"
        for f in data
        if f not in active.self_editable | active.verified_fields
    }
    if refused:
        raise ValidationFailed(refused)
    cleaned = clean_fields(data)
    contact = locked_contact(contact_id)
    changed = {f: v for f, v in cleaned.items() if v != getattr(contact, f)}
    email = changed.pop("email", None)
    verified = {f: changed.pop(f) for f in list(changed) if f in active.verified_fields}
    if changed:
        apply_fields(contact, changed)
        audit.record(
            f"contact:{contact.id}",
            "contact.self_edit",
            "contact",
            contact.id,
            {"fields": sorted(changed)},
            ip=requester.ip,
        )
    correction = None
    if verified:
        changes = {
            f: {"from": _plain(getattr(contact, f)), "to": _plain(v)} for f, v in verified.items()
        }
        correction = open_request(
            contact, PrivacyRequestKind.CORRECTION, requester, {"changes": changes}
        )
    if email:
        _queue_email_change(contact, email, requester)
    db.session.flush()
    return ProfileChange(sorted(changed), email, correction.id if correction else None)


def _queue_email_change(contact: Contact, email: str, requester: Requester) -> None:
    base = public_base_url()
    token = _serializer().dumps({"c": contact.id, "e": email})
    system_mail.queue_mail(
        SystemMailKind.EMAIL_CHANGE,
        email,
        requester.locale,
        {
            "link": f"{base}/email/{token}?lang={requester.locale}",
            "received_at": utcnow().isoformat(),
            "time_zone": contact.time_zone,
        },
        contact_id=contact.id,
    )


def confirm_email_change(token: str, requester: Requester) -> Contact:
    try:
        claims = _serializer().loads(token, max_age=int(EMAIL_CHANGE_MAX_AGE.total_seconds()))
        contact_id, email = int(claims["c"]), str(claims["e"])
    except (BadData, KeyError, TypeError, ValueError):
        raise NotFound("unknown or expired email change link") from None
    contact = locked_contact(contact_id)
    if contact.email == email:
        return contact
    other = find_by_email(email)
    if other is not None:
        raise Conflict("this address belongs to another contact")
    apply_fields(contact, {"email": email})
    audit.record(
        f"contact:{contact.id}", "contact.email_change", "contact", contact.id, ip=requester.ip
    )
    db.session.flush()
    return contact


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(token_secret(), salt="notifier.email-change")


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@dataclass(frozen=True)
class Receipt:
    event: ConsentEvent
    purpose: Purpose | None  # None when the purpose left the profile since
    notice_text: str | None  # exactly as shown, from the stored text by its hash


def linked_contact(contact_id: int) -> Contact:
    """The contact a link token names; an erased person has no pages any more."""
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.erased_at is not None:
        raise NotFound(f"contact {contact_id}")
    return contact


def history(contact_id: int) -> list[Receipt]:
    texts = _notice_texts()
    return [_receipt(event, texts) for event in reversed(consent.history(contact_id))]


def receipt(contact_id: int, event_id: int) -> Receipt:
    event = db.session.get(ConsentEvent, event_id)
    if event is None or event.contact_id != contact_id or event.notice_sha256 is None:
        raise NotFound(f"consent event {event_id}")
    return _receipt(event, _notice_texts())


def _receipt(event: ConsentEvent, texts: dict[str, str]) -> Receipt:
    try:
        purpose: Purpose | None = profile().purpose(event.purpose_key)
    except KeyError:
        purpose = None
    return Receipt(event, purpose, texts.get(event.notice_sha256 or ""))


def _notice_texts() -> dict[str, str]:
    rows = db.session.execute(db.select(NoticeText.sha256, NoticeText.text))
    return {sha: text for sha, text in rows}
