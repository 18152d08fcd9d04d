"""Grant, request (double opt-in), confirm and withdraw consent: the ledger's only writers."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier import webhooks
from notifier.contacts.purposes import store_notice_text
from notifier.domain.consent_rules import ConsentStatus
from notifier.domain.errors import Conflict, MissingEvidence, NotFound, UnknownPurpose
from notifier.domain.profile import Purpose
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.hashing import sha256_hex
from notifier.models import ConsentAction, ConsentEvent, ConsentSource, ConsentState, Contact
from notifier.models.types import utcnow

# Channels through which a person can give consent; the rest only ever withdraw it.
GRANT_SOURCES = frozenset(
    {
        ConsentSource.WEB_FORM, ConsentSource.SIGNUP, ConsentSource.PREFERENCE_CENTER,
        ConsentSource.HOTLINE, ConsentSource.STAFF, ConsentSource.IMPORT, ConsentSource.API,
    }
)  # fmt: skip
# A request (pending double opt-in) changes nobody's standing: only these two are reported.
WEBHOOK_EVENTS = {
    ConsentAction.GRANT: "consent.granted",
    ConsentAction.WITHDRAW: "consent.withdrawn",
}
NEXT_STATUS = {
    ConsentAction.REQUEST: ConsentStatus.PENDING,
    ConsentAction.GRANT: ConsentStatus.GRANTED,
    ConsentAction.WITHDRAW: ConsentStatus.WITHDRAWN,
}


@dataclass(frozen=True)
class Evidence:
    """Who, when, how and what they were shown: Decree 13/2023's provable consent."""

    source: ConsentSource
    occurred_at: datetime | None = None
    notice_version: str | None = None
    locale: str = "vi"
    ip: str | None = None
    user_agent: str | None = None
    staff_id: int | None = None
    api_key_id: int | None = None
    reference: str | None = None  # the original channel of an import, a form id, ...
    agreed_daily_cap: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Withdrawal:
    events: list[ConsentEvent]

    @property
    def changed(self) -> bool:
        """Only a refusal that changed something earns a confirmation email."""
        return bool(self.events)


def check_grant_evidence(purpose: Purpose, evidence: Evidence, now: datetime) -> None:
    problems = []
    if evidence.source not in GRANT_SOURCES:
        problems.append(f"source {evidence.source.value!r} cannot grant consent")
    if not evidence.notice_version:
        problems.append("the notice version shown is missing")
    elif evidence.notice_version != purpose.notice_version:
        problems.append(
            f"notice version {evidence.notice_version!r} is not {purpose.key}'s "
            f"current version {purpose.notice_version!r}"
        )
    if evidence.occurred_at is not None and evidence.occurred_at > now:
        problems.append("the consent is dated in the future")
    problems.extend(_missing_who(evidence))
    if problems:
        raise MissingEvidence("; ".join(problems))


def _missing_who(evidence: Evidence) -> list[str]:
    source = evidence.source
    if source in (ConsentSource.HOTLINE, ConsentSource.STAFF) and evidence.staff_id is None:
        return ["the staff member who recorded it is missing"]
    if source is ConsentSource.IMPORT and not (evidence.reference and evidence.occurred_at):
        return ["an import needs the original source and the collection time"]
    if source is ConsentSource.API and not (evidence.api_key_id and evidence.occurred_at):
        return ["an API grant needs the key and the collection time"]
    if source is ConsentSource.API and not (evidence.ip or evidence.reference):
        return ["an API grant needs the person's IP or a staff reference"]
    web = (ConsentSource.WEB_FORM, ConsentSource.SIGNUP, ConsentSource.PREFERENCE_CENTER)
    if source in web and not evidence.ip:
        return ["the person's IP address is missing"]
    return []


def purpose_or_error(key: str) -> Purpose:
    try:
        return profile().purpose(key)
    except KeyError:
        raise UnknownPurpose(key) from None


def append_grant(contact: Contact, purpose_key: str, evidence: Evidence) -> ConsentEvent | None:
    """Within the caller's transaction; None when the contact already holds this grant."""
    now = utcnow()
    purpose = purpose_or_error(purpose_key)
    check_grant_evidence(purpose, evidence, now)
    state = _state(contact.id, purpose_key)
    if state is not None:
        if state.status == ConsentStatus.GRANTED:
            return None
        last = db.session.get(ConsentEvent, state.event_id)
        occurred = evidence.occurred_at or now
        if state.status == ConsentStatus.WITHDRAWN and last and occurred < last.occurred_at:
            raise Conflict(
                f"consent collected {occurred:%Y-%m-%d %H:%M} UTC is older than the "
                f"withdrawal of {last.occurred_at:%Y-%m-%d %H:%M} UTC"
            )
    return _append(contact, purpose, ConsentAction.GRANT, evidence, now)


def append_request(contact: Contact, purpose_key: str, evidence: Evidence) -> str | None:
    """Record a pending double opt-in; returns the confirmation token to mail, or None."""
    now = utcnow()
    purpose = purpose_or_error(purpose_key)
    check_grant_evidence(purpose, evidence, now)
    state = _state(contact.id, purpose_key)
    if state is not None and state.status == ConsentStatus.GRANTED:
        return None
    token = secrets.token_urlsafe(24)
    _append(contact, purpose, ConsentAction.REQUEST, evidence, now, token_hash=sha256_hex(token))
    return token


def append_withdrawals(
    contact: Contact, purpose_keys: Iterable[str], evidence: Evidence
) -> Withdrawal:
    now = utcnow()
    events = []
    for key in purpose_keys:
        purpose = purpose_or_error(key)
        state = _state(contact.id, key)
        if state is not None and state.status == ConsentStatus.WITHDRAWN:
            continue
        events.append(_append(contact, purpose, ConsentAction.WITHDRAW, evidence, now))
    return Withdrawal(events)


def advertising_keys() -> list[str]:
    return [p.key for p in profile().purposes if p.is_advertising]


def grant(contact_id: int, purpose_key: str, evidence: Evidence) -> ConsentEvent | None:
    event = append_grant(_contact(contact_id), purpose_key, evidence)
    db.session.flush()
    return event


def request_confirmation(contact_id: int, purpose_key: str, evidence: Evidence) -> str | None:
    token = append_request(_contact(contact_id), purpose_key, evidence)
    db.session.flush()
    return token


def confirm(token: str, evidence: Evidence) -> ConsentEvent:
    """The second step of double opt-in; the grant carries the evidence of both steps."""
    request = db.session.scalar(
        db.select(ConsentEvent).where(ConsentEvent.confirmation_token_sha256 == sha256_hex(token))
    )
    if request is None:
        raise NotFound("unknown or used confirmation link")
    state = _state(request.contact_id, request.purpose_key)
    if state is None or state.event_id != request.id:
        raise NotFound("this confirmation link has been replaced or used")
    both = Evidence(
        source=ConsentSource(request.source),
        occurred_at=evidence.occurred_at,
        notice_version=request.notice_version,
        locale=request.locale or "vi",
        ip=evidence.ip,
        user_agent=evidence.user_agent,
        reference=request.evidence.get("reference"),
        extra={"request_event_id": request.id, "request_ip": request.ip},
    )
    event = append_grant(_contact(request.contact_id), request.purpose_key, both)
    db.session.flush()
    assert event is not None  # the state check above rules out an existing grant
    return event


def withdraw(contact_id: int, purpose_keys: Iterable[str], evidence: Evidence) -> Withdrawal:
    result = append_withdrawals(_contact(contact_id), purpose_keys, evidence)
    db.session.flush()
    return result


def history(contact_id: int) -> list[ConsentEvent]:
    return list(
        db.session.scalars(
            db.select(ConsentEvent)
            .where(ConsentEvent.contact_id == contact_id)
            .order_by(ConsentEvent.id)
        )
    )


def states(contact_id: int) -> dict[str, ConsentStatus]:
    """Every purpose of the profile, NONE where nothing was ever recorded."""
    rows = db.session.scalars(db.select(ConsentState).where(ConsentState.contact_id == contact_id))
    found = {row.purpose_key: ConsentStatus(row.status) for row in rows}
    return {p.key: found.get(p.key, ConsentStatus.NONE) for p in profile().purposes}


def derive_states(events: Iterable[ConsentEvent]) -> dict[tuple[int, str], tuple[str, int]]:
    """Current state from the ledger alone: the last event of each (contact, purpose) decides."""
    derived: dict[tuple[int, str], tuple[str, int]] = {}
    for event in sorted(events, key=lambda e: e.id):
        status = NEXT_STATUS[ConsentAction(event.action)]
        derived[(event.contact_id, event.purpose_key)] = (status.value, event.id)
    return derived


def _append(
    contact: Contact,
    purpose: Purpose,
    action: ConsentAction,
    evidence: Evidence,
    now: datetime,
    token_hash: str | None = None,
) -> ConsentEvent:
    recorded_text = action is not ConsentAction.WITHDRAW
    event = ConsentEvent(
        contact_id=contact.id,
        purpose_key=purpose.key,
        action=action.value,
        source=evidence.source.value,
        occurred_at=evidence.occurred_at or now,
        recorded_at=now,
        notice_version=evidence.notice_version if recorded_text else None,
        notice_sha256=store_notice_text(purpose.notice.get(evidence.locale))
        if recorded_text
        else None,
        locale=evidence.locale,
        ip=evidence.ip,
        user_agent=(evidence.user_agent or "")[:500] or None,
        staff_id=evidence.staff_id,
        api_key_id=evidence.api_key_id,
        agreed_daily_cap=evidence.agreed_daily_cap,
        confirmation_token_sha256=token_hash,
        evidence={"reference": evidence.reference, **evidence.extra},
    )
    db.session.add(event)
    db.session.flush()
    _set_state(contact.id, purpose.key, NEXT_STATUS[action], event, now)
    if action in WEBHOOK_EVENTS:
        webhooks.capture(
            WEBHOOK_EVENTS[action],
            {
                "contact_id": contact.id,
                "external_ref": contact.external_ref,
                "purpose": purpose.key,
                "channel": event.source,
                "consent_event_id": event.id,
            },
        )
    return event


def _set_state(
    contact_id: int, purpose_key: str, status: ConsentStatus, event: ConsentEvent, now: datetime
) -> None:
    state = _state(contact_id, purpose_key)
    if state is None:
        state = ConsentState(contact_id=contact_id, purpose_key=purpose_key)
        db.session.add(state)
    state.status = status.value
    state.event_id = event.id
    state.agreed_daily_cap = event.agreed_daily_cap if status is ConsentStatus.GRANTED else None
    state.updated_at = now


def _state(contact_id: int, purpose_key: str) -> ConsentState | None:
    return db.session.get(ConsentState, (contact_id, purpose_key))


def _contact(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.erased_at is not None:
        raise NotFound(f"contact {contact_id}")
    return contact
