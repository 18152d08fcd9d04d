"""Contacts as staff see them: search, view, edit, export, by role, each in the audit log."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, exists, func, or_, select, text

from notifier.contacts import consent_ledger as consent
from notifier.contacts import contacts, refusals, subscriptions
from notifier.contacts.refusals import Refusal
from notifier.delivery import eligibility
from notifier.domain.errors import NotFound, ValidationFailed
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import (
    Campaign,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    Contact,
    ContactTag,
    Delivery,
    Notice,
    NoticeText,
    PrivacyRequest,
    StaffUser,
    Subscription,
    SystemMail,
    utcnow,
)
from notifier.operations.access import Access, Forbidden, csv_value, project

PAGE_SIZE = 25
# A search counts its matches only this far: a term that matches most of a million contacts
# would otherwise count them all on every page (seconds), and nobody pages through more.
COUNT_LIMIT = 1_000
EXPORT_LIMIT = 50_000
STATUSES = ("granted", "pending", "withdrawn", "none")


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    purpose: str = ""
    status: str = ""
    tag: str = ""
    page: int = 1


@dataclass(frozen=True)
class SearchPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    more: bool  # more than `total` (COUNT_LIMIT) match: narrow the search to see them
    # Per contact id and purpose: "allowed" (receiving) or why not; empty for roles that do
    # not see consent.
    standings: dict[int, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class TimelineEntry:
    event: ConsentEvent
    notice_text: str | None
    staff_email: str | None


@dataclass
class ContactDetail:
    fields: dict[str, Any]
    states: dict[str, str] = field(default_factory=dict)  # the recorded consent, per purpose
    standings: dict[str, str] = field(default_factory=dict)  # receiving ("allowed") or why not
    timeline: list[TimelineEntry] = field(default_factory=list)
    deliveries: list[tuple[Delivery, str]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    system_mails: list[SystemMail] = field(default_factory=list)  # the retention notice too
    privacy_requests: list[PrivacyRequest] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)


def sees_consent(access: Access) -> bool:
    return access.sees("consent") and access.can("consent.view")


def _filtered(access: Access, query: SearchQuery) -> Select:
    statement = select(Contact).where(Contact.erased_at.is_(None))
    text = query.text.strip()
    if text:
        # Only columns the role may see: searching a hidden one would reveal it bit by bit.
        needle = text.lower()
        columns = [func.lower(getattr(Contact, name)) for name in access.searchable]
        statement = statement.where(
            or_(*[column.contains(needle, autoescape=True) for column in columns])
        )
    if query.tag:
        access.require_field("tags")
        statement = statement.where(
            exists().where(ContactTag.contact_id == Contact.id, ContactTag.tag == query.tag.lower())
        )
    if query.purpose or query.status:
        if not sees_consent(access):
            raise Forbidden("consent")
        statement = _consent_filter(statement, query)
    return statement


def _consent_filter(statement: Select, query: SearchQuery) -> Select:
    if query.purpose not in {p.key for p in profile().purposes}:
        raise ValidationFailed({"purpose": "unknown purpose"})
    if query.status not in STATUSES:
        raise ValidationFailed({"status": f"one of {', '.join(STATUSES)}"})
    state = exists().where(
        ConsentState.contact_id == Contact.id, ConsentState.purpose_key == query.purpose
    )
    if query.status == "none":
        return statement.where(~state)
    return statement.where(
        exists().where(
            ConsentState.contact_id == Contact.id,
            ConsentState.purpose_key == query.purpose,
            ConsentState.status == query.status,
        )
    )


def search(access: Access, query: SearchQuery) -> SearchPage:
    access.require("contacts.view")
    statement = _filtered(access, query)
    if db.session.get_bind().dialect.name == "postgresql":
        # A plan for this term, never the generic one PostgreSQL caches after five runs of the
        # prepared statement: that plan cannot tell a rare term from one in every row, and for
        # a common one it reads a trigram index's whole million entries (340 ms, against 2 ms).
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    # The matching ids, up to the limit, in whatever order the fastest plan gives (on
    # PostgreSQL the trigram indexes find a rare term in milliseconds).
    ids = db.session.scalars(statement.with_only_columns(Contact.id).limit(COUNT_LIMIT + 1)).all()
    more, total = len(ids) > COUNT_LIMIT, min(len(ids), COUNT_LIMIT)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, query.page), pages)
    if more:
        # A common term: the newest matches are dense, walking the primary key finds them.
        found = db.session.scalars(
            statement.order_by(Contact.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        ).all()
    else:
        # All matches are known: the page is theirs. Asking the database for "newest first,
        # 25" instead walks the primary key through a million rows to find eleven.
        chosen = sorted(ids, reverse=True)[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        found = db.session.scalars(
            select(Contact).where(Contact.id.in_(chosen)).order_by(Contact.id.desc())
        ).all()
    rows = [project(access, contact) for contact in found]
    standings = _standings(found) if sees_consent(access) else {}
    access.audit(
        "contacts.search", "contact", "", query=query.text[:200], tag=query.tag,
        purpose=query.purpose, status=query.status, total=total, more=more,
        ids=[r["id"] for r in rows],
    )  # fmt: skip
    db.session.flush()
    return SearchPage(rows, total, page, pages, more, standings)


def _standings(contacts: Sequence[Contact]) -> dict[int, dict[str, str]]:
    found = eligibility.standings_for(contacts, utcnow().date())
    return {cid: {k: reason.value for k, reason in by.items()} for cid, by in found.items()}


def contact_detail(access: Access, contact_id: int) -> ContactDetail:
    access.require("contacts.view")
    contact = _contact(contact_id)
    detail = ContactDetail(fields=project(access, contact))
    shown = ["fields"]
    if sees_consent(access):
        detail.states = {k: v.value for k, v in consent.states(contact.id).items()}
        detail.standings = _standings([contact])[contact.id]
        detail.timeline = _timeline(contact.id)
        shown.append("consent")
    if access.sees("deliveries"):
        detail.deliveries = _deliveries(contact.id)
        detail.notices = list(
            db.session.scalars(
                select(Notice).where(Notice.contact_id == contact.id).order_by(Notice.id.desc())
            ).all()[:50]
        )
        detail.system_mails = list(
            db.session.scalars(
                select(SystemMail)
                .where(SystemMail.contact_id == contact.id)
                .order_by(SystemMail.id.desc())
                .limit(50)
            )
        )
        shown.append("deliveries")
    if access.sees("subscriptions"):
        detail.subscriptions = subscriptions.held_by(contact.id)
        shown.append("subscriptions")
    if access.sees("privacy_requests"):
        detail.privacy_requests = list(
            db.session.scalars(
                select(PrivacyRequest)
                .where(PrivacyRequest.contact_id == contact.id)
                .order_by(PrivacyRequest.id.desc())
            )
        )
        shown.append("privacy_requests")
    access.audit("contacts.view", "contact", contact.id, shown=shown, columns=list(access.columns))
    db.session.flush()
    return detail


def _timeline(contact_id: int) -> list[TimelineEntry]:
    entries = []
    for event in reversed(consent.history(contact_id)):
        text = db.session.get(NoticeText, event.notice_sha256) if event.notice_sha256 else None
        staff = db.session.get(StaffUser, event.staff_id) if event.staff_id else None
        entries.append(
            TimelineEntry(
                event=event,
                notice_text=text.text if text else None,
                staff_email=staff.email if staff else None,
            )
        )
    return entries


def _deliveries(contact_id: int) -> list[tuple[Delivery, str]]:
    rows = db.session.execute(
        select(Delivery, Campaign.name)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.contact_id == contact_id)
        .order_by(Delivery.id.desc())
        .limit(50)
    ).all()
    return [(delivery, str(name)) for delivery, name in rows]


def edit(access: Access, contact_id: int, data: dict[str, Any]) -> Contact:
    """Only fields the role may see and edit; the audit row names the fields, not their values."""
    access.require("contacts.edit")
    hidden = sorted(set(data) - set(access.editable))
    if hidden:
        raise Forbidden(", ".join(hidden))
    contact = _contact(contact_id)
    cleaned = contacts.clean_fields(data)
    before = project(access, contact)
    changed = sorted(k for k, v in cleaned.items() if before.get(k) != v)
    access.audit("contacts.edit", "contact", contact.id, fields=changed)
    return contacts.update_contact(contact.id, cleaned)


def record_phone_refusal(
    access: Access, contact_id: int, purpose_keys: list[str], note: str
) -> Refusal:
    """Decree 91/2020 Art 20(2): a refusal by phone, the staff member who took it as evidence.

    The refusals service withdraws at once and queues the one confirmation email.
    """
    access.require("consent.record_refusal")
    known = {p.key for p in profile().purposes}
    if not purpose_keys or set(purpose_keys) - known:
        raise ValidationFailed({"purposes": "choose at least one purpose of the profile"})
    contact = refusals.locked_contact(contact_id)
    evidence = consent.Evidence(
        source=ConsentSource.PHONE,
        staff_id=access.staff_id,
        reference=f"phone call taken by {access.email}",
        extra={"note": note.strip()[:1000]} if note.strip() else {},
    )
    advertising = set(consent.advertising_keys())
    refusal = refusals.append_refusal(
        contact, sorted(purpose_keys), evidence, all_advertising=set(purpose_keys) >= advertising
    )
    access.audit("consent.record_refusal", "contact", contact.id, purposes=sorted(purpose_keys),
                 withdrawn=refusal.withdrawn)  # fmt: skip
    db.session.flush()
    return refusal


def export_csv(access: Access, query: SearchQuery) -> str:
    """The search as CSV with the role's columns only; UTF-8 with BOM so Excel reads Vietnamese."""
    access.require("contacts.export")
    found = db.session.scalars(
        _filtered(access, query).order_by(Contact.id).limit(EXPORT_LIMIT)
    ).all()
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["id", *access.columns]
    writer.writerow(columns)
    for contact in found:
        row = project(access, contact)
        writer.writerow([csv_value(row.get(column)) for column in columns])
    access.audit(
        "contacts.export", "contact", "", query=query.text[:200], rows=len(found), columns=columns
    )
    db.session.flush()
    return "\ufeff" + out.getvalue()


def _contact(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.erased_at is not None:
        raise NotFound(f"contact {contact_id}")
    return contact
