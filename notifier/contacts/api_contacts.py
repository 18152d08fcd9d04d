"""What the billing API does to contacts: upsert by external_ref, consent with evidence, notices."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from notifier.contacts import contacts
from notifier.contacts.consent_ledger import (
    Evidence,
    append_grant,
    append_withdrawals,
    history,
    purpose_or_error,
    states,
)
from notifier.delivery import system_mail
from notifier.domain.consent_rules import ConsentStatus
from notifier.domain.errors import (
    Conflict,
    DomainError,
    MissingEvidence,
    NotFound,
    UnknownPurpose,
    ValidationFailed,
)
from notifier.domain.masking import mask_email
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import discard
from notifier.models import (
    ApiKey,
    ConsentEvent,
    ConsentSource,
    Contact,
    Notice,
    NoticeType,
    SystemMailKind,
    utcnow,
)
from notifier.notices import notices
from notifier.operations import audit

T = TypeVar("T")
ATTEMPTS = 5  # racing requests for one contact or notice settle within a few tries
# Who the contact is and where their mail goes: a notices key may set these on a new contact
# only; changing them on an existing one takes the contacts scope (issue #13: a notices key
# could send a person's notice, and its links, to an address of its choosing).
IDENTITY_FIELDS = frozenset(
    {
        "email",
        "name",
        "phone",
        "address",
        "national_id",
        "birth_date",
        "organisation",
        "contact_person",
    }
)


class IdentityChangeRefused(DomainError):
    """This key may not change these fields of an existing contact."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"changing {', '.join(fields)} of an existing contact needs 'contacts'")
        self.fields = fields


@dataclass(frozen=True)
class ConsentChange:
    purpose: str
    action: str  # "grant" or "withdraw"
    evidence: Mapping[str, Any] | None = None  # source, notice_version, collected_at, ip, ...


@dataclass(frozen=True)
class ConsentOverview:
    contact: Contact
    states: dict[str, ConsentStatus]
    history: list[ConsentEvent]


def _actor(api_key_id: int) -> str:
    return f"api:{api_key_id}"


def retrying(work: Callable[[], T]) -> T:
    """Run one transaction; run it again when a concurrent request got there first."""
    conflict_seen = False
    for attempt in range(ATTEMPTS - 1):
        try:
            return _rolled_back_on_error(work)
        except IntegrityError:
            continue  # the other request created the row: the next run finds it
        except Conflict:
            # Under READ COMMITTED each statement sees the newest commit, so a row another
            # request committed between two of our reads can look like someone else's. A fresh
            # run sees it whole and settles it; a real conflict comes back the same and stands.
            if conflict_seen:
                raise
            conflict_seen = True
        except OperationalError as exc:
            if not _sqlite_busy(exc):
                raise
            time.sleep(0.02 * (attempt + 1))
    return _rolled_back_on_error(work)


def _sqlite_busy(exc: OperationalError) -> bool:
    """SQLite in WAL mode refuses at once a read transaction that turns into a write after
    another connection wrote (its snapshot is stale); a fresh transaction succeeds."""
    return "database is locked" in str(exc.orig)


def _rolled_back_on_error(work: Callable[[], T]) -> T:
    try:
        return work()
    except (SQLAlchemyError, DomainError):
        # The next try starts afresh, and a job this try asked for must not be enqueued.
        discard()
        raise


def find_contact(external_ref: str) -> Contact:
    contact = contacts.find_by_external_ref(external_ref)
    if contact is None or contact.erased_at is not None:
        raise NotFound(f"contact {external_ref}")
    return contact


def view_contact(external_ref: str, api_key_id: int) -> Contact:
    contact = find_contact(external_ref)
    audit.record(_actor(api_key_id), "contact.view", "contact", contact.id)
    db.session.flush()
    return contact


def upsert_contact(
    external_ref: str,
    fields: Mapping[str, Any],
    changes: list[ConsentChange],
    api_key_id: int,
    must_exist: bool = False,
) -> tuple[Contact, bool]:
    """Create or update by external_ref and apply consent changes, all or nothing."""

    def work() -> tuple[Contact, bool]:
        contact, created = _stage(external_ref, fields, must_exist, api_key_id)
        _apply_consents(contact, changes, api_key_id)
        audit.record(
            _actor(api_key_id),
            "contact.create" if created else "contact.edit",
            "contact",
            contact.id,
            {"fields": sorted(fields)},
        )
        db.session.flush()
        return contact, created

    return retrying(work)


def _stage(
    external_ref: str,
    fields: Mapping[str, Any],
    must_exist: bool,
    api_key_id: int,
    may_change_identity: bool = True,
) -> tuple[Contact, bool]:
    existing = contacts.find_by_external_ref(external_ref)
    if existing is None or existing.erased_at is not None:
        if must_exist:
            raise NotFound(f"contact {external_ref}")
        if existing is not None:
            raise Conflict(f"contact {external_ref} was erased at the person's request")
        return contacts.stage_contact({**fields, "external_ref": external_ref})
    cleaned = contacts.clean_fields(fields)
    changed = sorted(
        f for f, v in cleaned.items() if f in IDENTITY_FIELDS and v != getattr(existing, f)
    )
    if changed and not may_change_identity:
        raise IdentityChangeRefused(changed)
    if "email" in changed:
        other = contacts.find_by_email(cleaned["email"])
        if other is not None and other.id != existing.id:
            raise Conflict(f"{cleaned['email']} belongs to another contact")
    old_email = existing.email
    contacts.apply_fields(existing, cleaned)
    if changed:
        _identity_changed(existing, changed, old_email, api_key_id)
    db.session.flush()
    return existing, False


def _identity_changed(
    contact: Contact, changed: list[str], old_email: str | None, api_key_id: int
) -> None:
    """Audited; a moved address is told to the OLD one, whose owner may not have asked."""
    audit.record(
        _actor(api_key_id), "contact.identity_change", "contact", contact.id, {"fields": changed}
    )
    if "email" not in changed or not old_email:
        return
    system_mail.queue_mail(
        SystemMailKind.ADDRESS_CHANGED,
        old_email,
        contact.locale,
        {
            "new_address": mask_email(contact.email),
            "received_at": utcnow().isoformat(),
            "time_zone": contact.time_zone,
        },
        contact_id=contact.id,
    )


def _apply_consents(contact: Contact, changes: list[ConsentChange], api_key_id: int) -> None:
    errors: dict[str, str] = {}
    for index, change in enumerate(changes):
        field = f"consents[{index}]"
        try:
            purpose_or_error(change.purpose)
            if change.action == "withdraw":
                evidence = Evidence(
                    source=ConsentSource.API, api_key_id=api_key_id, locale=contact.locale
                )
                append_withdrawals(contact, [change.purpose], evidence)
            else:
                append_grant(contact, change.purpose, _evidence(change, contact, api_key_id))
        except UnknownPurpose:
            errors[f"{field}.purpose"] = f"unknown purpose {change.purpose!r}"
        except MissingEvidence as exc:
            errors[f"{field}.evidence"] = str(exc)
        except Conflict as exc:
            errors[f"{field}.evidence.collected_at"] = str(exc)
    if errors:
        raise ValidationFailed(errors)


def _evidence(change: ConsentChange, contact: Contact, api_key_id: int) -> Evidence:
    given = change.evidence or {}
    collected = given.get("collected_at")
    return Evidence(
        source=ConsentSource.API,
        occurred_at=datetime.fromisoformat(collected) if collected else None,
        notice_version=given.get("notice_version"),
        locale=contact.locale,
        ip=given.get("ip"),
        user_agent=given.get("user_agent"),
        api_key_id=api_key_id,
        reference=given.get("staff_ref"),
        extra={"channel": given.get("source")},
    )


def consent_overview(external_ref: str, api_key_id: int) -> ConsentOverview:
    contact = find_contact(external_ref)
    overview = ConsentOverview(contact, states(contact.id), history(contact.id))
    audit.record(_actor(api_key_id), "consent.view", "contact", contact.id)
    db.session.flush()
    return overview


def field_problems(fields: Mapping[str, Any]) -> dict[str, str]:
    """The contact rules (phone, national formats, ...) checked with the schema, nothing written."""
    known = {k: v for k, v in fields.items() if k in contacts.EDITABLE}
    try:
        contacts.clean_fields(known)
    except ValidationFailed as exc:
        return exc.errors
    return {}


def purpose_kind(purpose_key: str) -> str:
    return profile().purpose(purpose_key).kind.value


def notice_type_problems(type_key: object) -> dict[str, str]:
    """Checked with the schema, so one answer names every bad field."""
    if isinstance(type_key, str) and not _active_type(type_key):
        return {"type": f"unknown notice type {type_key!r}; see GET /api/v1/notice-types"}
    return {}


def _active_type(type_key: str) -> NoticeType | None:
    notice_type = db.session.get(NoticeType, type_key)
    return notice_type if notice_type is not None and notice_type.active else None


def notice_types() -> list[NoticeType]:
    return list(
        db.session.scalars(select(NoticeType).where(NoticeType.active).order_by(NoticeType.key))
    )


def submit_notice(
    type_key: str,
    contact_fields: Mapping[str, Any],
    data: dict[str, Any],
    send_at: datetime | None,
    idempotency_key: str,
    api_key_id: int,
    request_body: Any,
) -> notices.Triggered:
    """Upsert the contact and queue the notice in one transaction, once per idempotency key."""
    # Keys are per API key: one client can neither replay nor block another's requests.
    scoped_key = f"api:{api_key_id}:{idempotency_key}"
    fingerprint = notices.request_fingerprint(request_body)
    key = db.session.get(ApiKey, api_key_id)
    may_change_identity = key is not None and "contacts" in (key.scopes or [])

    def work() -> notices.Triggered:
        existing = db.session.scalar(select(Notice).where(Notice.idempotency_key == scoped_key))
        if existing is not None:
            if existing.request_sha256 != fingerprint:
                raise Conflict("this Idempotency-Key was used with a different request body")
            return notices.Triggered(existing, False)
        if _active_type(type_key) is None:
            raise ValidationFailed(notice_type_problems(type_key))
        fields = dict(contact_fields)
        ref = str(fields.pop("external_ref"))
        try:
            contact, _ = _stage(ref, fields, False, api_key_id, may_change_identity)
        except ValidationFailed as exc:
            raise ValidationFailed({f"contact.{k}": v for k, v in exc.errors.items()}) from None
        audit.record(_actor(api_key_id), "notice.trigger", "contact", contact.id)
        return notices.trigger(
            type_key,
            contact.id,
            data,
            scoped_key,
            fingerprint,
            send_at=send_at,
            api_key_id=api_key_id,
        )

    return retrying(work)


def notice_status(notice_id: int, api_key_id: int) -> tuple[Notice, str | None]:
    """A key sees only the notices it triggered; another's answer 404 as if there were none."""
    notice = notices.get_notice(notice_id)
    if notice.api_key_id != api_key_id:
        raise NotFound(f"notice {notice_id}")
    contact = db.session.get(Contact, notice.contact_id)
    return notice, contact.external_ref if contact is not None else None
