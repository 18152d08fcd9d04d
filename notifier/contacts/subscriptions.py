"""The services each contact holds: upsert one or many (API, CSV import), read them, and load
them for a claimed batch of a renewal campaign.

A row names its contact by external_ref or email, as the notices API does; it never creates a
contact (that takes the contacts scope and consent evidence). Rows are keyed by (source,
external_id): the source is who sent them (the API key's name, the import's --source), so one
system can neither read nor change another's rows. The rules on the values are the domain's
(notifier/domain/subscriptions.py); this checks what needs the database: the contact exists and
the status may follow the stored one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from notifier.contacts.api_contacts import retrying
from notifier.domain.errors import NotFound, ValidationFailed
from notifier.domain.subscriptions import (
    InvalidTransition,
    SubscriptionStatus,
    check_fields,
    check_transition,
)
from notifier.infra.bulk import among, insert_rows, planned_for_arrays, update_by_id
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import checkpoint, savepoint
from notifier.models import ApiKey, Contact, Subscription, utcnow
from notifier.notices import reminders
from notifier.operations import audit

FIELDS = (
    "kind",
    "name",
    "plan",
    "expires_on",
    "amount",
    "currency",
    "renewal_url",
    "status",
    "attributes",
)
# Rows a bulk upsert or an import writes per commit: a file of 100,000 as one transaction
# would hold its locks for minutes and lose everything to a failure near its end; rows are
# idempotent, so sending the rest again finishes the job (as contacts/importer.py does).
CHUNK = 1000


@dataclass(frozen=True)
class ContactKey:
    external_ref: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Row:
    """One subscription to write: values of their types (date, Decimal), checked or not."""

    line: int
    external_id: str
    contact: ContactKey
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


@dataclass
class BulkReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.created + self.updated


def _contact_problem(key: ContactKey) -> dict[str, str]:
    if key.external_ref is not None:
        return {"contact.external_ref": "no contact has this external_ref"}
    return {"contact.email": "no contact has this email address"}


def _find_contact(key: ContactKey) -> Contact | None:
    if key.external_ref is not None:
        where = Contact.external_ref == key.external_ref
    else:
        where = Contact.email == key.email
    contact = db.session.scalar(select(Contact).where(where))
    return contact if contact is not None and contact.erased_at is None else None


def _stored(source: str, external_id: str) -> Subscription | None:
    return db.session.scalar(
        select(Subscription).where(
            Subscription.source == source, Subscription.external_id == external_id
        )
    )


def upsert(source: str, row: Row, actor: str) -> tuple[Subscription, bool]:
    """Create or replace one subscription, all or nothing; True when it was created."""

    def work() -> tuple[Subscription, bool]:
        problems = check_fields(row.fields)
        contact = _find_contact(row.contact)
        if contact is None:
            problems.update(_contact_problem(row.contact))
        existing = _stored(source, row.external_id)
        status = str(row.fields.get("status", SubscriptionStatus.ACTIVE))
        if "status" not in problems:
            try:
                check_transition(existing.status if existing else None, status)
            except InvalidTransition as exc:
                problems["status"] = str(exc)
        if problems:
            raise ValidationFailed(problems)
        assert contact is not None
        values = {**_values(row.fields), "contact_id": contact.id}
        if existing is None:
            existing = Subscription(source=source, external_id=row.external_id, **values)
            db.session.add(existing)
            created = True
        else:
            for name, value in values.items():
                setattr(existing, name, value)
            created = False
        db.session.flush()
        if not created:  # a new expiry date or status ends the old date's reminders, now
            reminders.cancel_stale([existing.id])
        action = "subscription.create" if created else "subscription.edit"
        audit.record(actor, action, "contact", contact.id, {"subscription": existing.id})
        db.session.flush()
        return existing, created

    return retrying(work)


def _values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Every column a row sets: one left out is cleared, so a PUT replaces the whole row."""
    return {
        "kind": fields["kind"],
        "name": fields["name"].strip(),
        "plan": fields.get("plan") or "",
        "expires_on": fields.get("expires_on"),
        "amount": fields.get("amount"),
        "currency": fields.get("currency"),
        "renewal_url": fields.get("renewal_url"),
        "status": str(fields.get("status") or SubscriptionStatus.ACTIVE),
        "attributes": dict(fields.get("attributes") or {}),
    }


def get(source: str, external_id: str) -> tuple[Subscription, Contact]:
    """Another source's row answers as if there were none."""
    found = _stored(source, external_id)
    contact = db.session.get(Contact, found.contact_id) if found is not None else None
    if found is None or contact is None or contact.erased_at is not None:
        raise NotFound(f"subscription {external_id}")
    return found, contact


def for_contact(source: str, key: ContactKey) -> tuple[Contact, list[Subscription]]:
    contact = _find_contact(key)
    if contact is None:
        raise NotFound("contact")
    rows = db.session.scalars(
        select(Subscription)
        .where(Subscription.contact_id == contact.id, Subscription.source == source)
        .order_by(Subscription.expires_on, Subscription.id)
    )
    return contact, list(rows)


def held_by(contact_id: int) -> list[Subscription]:
    """Every source's rows of one contact, for the staff's contact page."""
    return list(
        db.session.scalars(
            select(Subscription)
            .where(Subscription.contact_id == contact_id)
            .order_by(Subscription.expires_on, Subscription.id)
        )
    )


# --- many at once -----------------------------------------------------------------------------


def bulk_upsert(
    source: str, rows: Iterable[Row | list[RowError]], actor: str, report: BulkReport | None = None
) -> BulkReport:
    """Upsert rows as they come (an iterator over a stream or a file: never all in memory).

    A list of RowErrors in the stream is a row its reader refused; it is reported and skipped.
    Each good row is written whole or not at all; each chunk commits (see CHUNK).
    """
    report = report if report is not None else BulkReport()
    chunk: list[Row] = []
    for item in rows:
        report.rows += 1
        if isinstance(item, list):
            report.errors.extend(item)
            continue
        problems = check_fields(item.fields)
        if problems:
            report.errors.extend(RowError(item.line, f, m) for f, m in sorted(problems.items()))
            continue
        chunk.append(item)
        if len(chunk) >= CHUNK:
            _write_chunk(source, chunk, report)
            checkpoint()  # see CHUNK
            chunk = []
    if chunk:
        _write_chunk(source, chunk, report)
    audit.record(
        actor,
        "subscription.bulk",
        "subscription",
        "",
        {"rows": report.rows, "written": report.written, "errors": len(report.errors)},
    )
    db.session.flush()
    return report


def _write_chunk(source: str, chunk: list[Row], report: BulkReport) -> None:
    for attempt in range(2):
        partial = BulkReport()
        try:
            with savepoint(), planned_for_arrays():
                _stage_chunk(source, chunk, partial)
        except IntegrityError:
            if attempt:
                raise
            continue  # another request inserted one of these ids: read them again
        report.created += partial.created
        report.updated += partial.updated
        report.errors.extend(partial.errors)
        return


def _stage_chunk(source: str, chunk: list[Row], report: BulkReport) -> None:
    refs = {r.contact.external_ref for r in chunk if r.contact.external_ref is not None}
    emails = {r.contact.email for r in chunk if r.contact.email is not None}
    by_ref: dict[str | None, int] = {}
    by_email: dict[str | None, int] = {}
    alive = Contact.erased_at.is_(None)
    if refs:
        for contact_id, ref in db.session.execute(
            select(Contact.id, Contact.external_ref).where(among(Contact.external_ref, refs), alive)
        ):
            by_ref[ref] = contact_id
    if emails:
        for contact_id, email in db.session.execute(
            select(Contact.id, Contact.email).where(among(Contact.email, emails), alive)
        ):
            by_email[email] = contact_id
    ids = {r.external_id for r in chunk}
    stored = {
        external_id: (row_id, status)
        for row_id, external_id, status in db.session.execute(
            select(Subscription.id, Subscription.external_id, Subscription.status).where(
                Subscription.source == source, among(Subscription.external_id, ids)
            )
        )
    }
    inserts: dict[str, dict[str, Any]] = {}
    updates: dict[int, dict[str, Any]] = {}
    now = utcnow()
    for row in chunk:
        key = row.contact
        holder = by_ref.get(key.external_ref) if key.external_ref else by_email.get(key.email)
        if holder is None:
            report.errors.extend(RowError(row.line, f, m) for f, m in _contact_problem(key).items())
            continue
        values = {**_values(row.fields), "contact_id": holder, "updated_at": now}
        pending = inserts.get(row.external_id)
        old = stored.get(row.external_id)
        before = pending["status"] if pending else old[1] if old else None
        try:
            check_transition(before, values["status"])
        except InvalidTransition as exc:
            report.errors.append(RowError(row.line, "status", str(exc)))
            continue
        if old is not None:
            updates[old[0]] = {"id": old[0], **values}
            stored[row.external_id] = (old[0], values["status"])
            report.updated += 1
        elif pending is not None:
            pending.update(values)  # the same id twice in one chunk: the later line wins
            report.updated += 1
        else:
            inserts[row.external_id] = {
                "source": source,
                "external_id": row.external_id,
                "created_at": now,
                **values,
            }
            report.created += 1
    insert_rows(Subscription, inserts.values())
    update_by_id(Subscription, updates.values())
    reminders.cancel_stale(updates)  # as upsert does, for the chunk's changed rows at once


def bounded(rows: Iterable[Row | list[RowError]], most: int) -> Iterator[Row | list[RowError]]:
    """Rows with their count bounded: after the last allowed, one error and nothing more read."""
    for count, row in enumerate(rows, 1):
        if count > most:
            text = f"more than {most} rows; send the rest in another request"
            yield [RowError(count, "body", text)]
            return
        yield row


def source_of(api_key_id: int) -> str:
    """A key's rows are its name's: keys of one billing system share a name across rotations."""
    key = db.session.get(ApiKey, api_key_id)
    return key.name[:64] if key is not None else f"key:{api_key_id}"


def api_view(sub: Subscription) -> dict[str, Any]:
    contact = db.session.get(Contact, sub.contact_id)
    return {
        "external_id": sub.external_id,
        "contact_external_ref": contact.external_ref if contact is not None else None,
        "kind": sub.kind,
        "name": sub.name,
        "plan": sub.plan,
        "expires_on": sub.expires_on.isoformat() if sub.expires_on else None,
        "amount": _amount_text(sub.amount),
        "currency": sub.currency,
        "renewal_url": sub.renewal_url,
        "status": sub.status,
        "attributes": dict(sub.attributes or {}),
        "created_at": sub.created_at.isoformat(),
        "updated_at": sub.updated_at.isoformat(),
    }


def _amount_text(amount: Decimal | None) -> str | None:
    """As the API takes it: "1250000", "19.99" (no exponent, no trailing zeros)."""
    if amount is None:
        return None
    text = format(amount.normalize(), "f")
    return text
