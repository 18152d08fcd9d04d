"""The staff side of privacy requests: the queue, acknowledge, decide, export, erase, answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select

from notifier.contacts.contacts import apply_fields, clean_fields
from notifier.contacts.refusals import locked_contact
from notifier.domain.errors import Conflict, NotFound, ValidationFailed
from notifier.infra.extensions import db
from notifier.models import (
    Contact,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    utcnow,
)
from notifier.operations.access import Access, Forbidden, project
from notifier.privacy import requests as privacy

OPEN = (PrivacyRequestStatus.RECEIVED, PrivacyRequestStatus.ACKNOWLEDGED)
# What privacy.export_data holds: the whole record, so only a role that sees all of it may make it.
EXPORTED = (
    "email", "name", "phone", "address", "organisation", "contact_person", "national_id",
    "birth_date", "locale", "time_zone", "external_ref", "contract_ends_on", "tags", "attributes",
    "consent", "deliveries", "privacy_requests",
)  # fmt: skip
MAX_OUTCOME = 2000


@dataclass(frozen=True)
class RequestView:
    request: PrivacyRequest
    contact: dict[str, Any] | None

    def overdue(self, now: datetime) -> bool:
        return self.request.status in OPEN and self.request.complete_by < now

    def ack_overdue(self, now: datetime) -> bool:
        r = self.request
        return r.status == PrivacyRequestStatus.RECEIVED and r.acknowledge_by < now


def queue(access: Access, show: str = "open") -> list[RequestView]:
    """Open requests by due date, the most urgent first; or the last 200 of every state."""
    access.require("privacy.handle")
    statement = select(PrivacyRequest)
    if show == "open":
        statement = statement.where(PrivacyRequest.status.in_(OPEN)).order_by(
            PrivacyRequest.complete_by
        )
    else:
        open_first = case((PrivacyRequest.status.in_(OPEN), 0), else_=1)
        statement = statement.order_by(open_first, PrivacyRequest.id.desc())
    found = list(db.session.scalars(statement.limit(200)))
    views = [RequestView(r, _contact(access, r.contact_id)) for r in found]
    access.audit("privacy.queue_view", "privacy_request", "", ids=[r.id for r in found])
    db.session.flush()
    return views


def detail(access: Access, request_id: int) -> RequestView:
    access.require("privacy.handle")
    request = _request(request_id)
    view = RequestView(request, _contact(access, request.contact_id))
    access.audit("privacy.view", "privacy_request", request.id, contact_id=request.contact_id)
    db.session.flush()
    return view


def _contact(access: Access, contact_id: int | None) -> dict[str, Any] | None:
    contact = db.session.get(Contact, contact_id) if contact_id else None
    if contact is None or contact.erased_at is not None:
        return None
    return project(access, contact)


def acknowledge(access: Access, request_id: int) -> PrivacyRequest:
    access.require("privacy.handle")
    request = _open(request_id)
    if request.status == PrivacyRequestStatus.ACKNOWLEDGED:
        raise Conflict(f"request {request_id} is already acknowledged")
    request.status, request.acknowledged_at = PrivacyRequestStatus.ACKNOWLEDGED, utcnow()
    request.handled_by = access.staff_id
    access.audit("privacy.acknowledge", "privacy_request", request.id)
    db.session.flush()
    return request


def decide_correction(access: Access, request_id: int, approve: bool, note: str) -> PrivacyRequest:
    """A verified field (the customer's name at DCNET) changes only when staff approve it."""
    access.require("privacy.handle")
    request = _open(request_id, PrivacyRequestKind.CORRECTION)
    if approve:
        contact = locked_contact(request.contact_id or 0)
        changes = (request.details or {}).get("changes") or {}
        apply_fields(contact, clean_fields({f: c.get("to") for f, c in changes.items()}))
        outcome = f"approved: {', '.join(sorted(changes))} updated"
    else:
        outcome = "rejected"
    return _close(access, request, approve, _outcome(outcome, note), "privacy.correction")


def answer(access: Access, request_id: int, text: str) -> PrivacyRequest:
    """Close a complaint (or any request) with the answer given to the person."""
    access.require("privacy.handle")
    request = _open(request_id)
    if not text.strip():
        raise ValidationFailed({"outcome": "write the answer given to the person"})
    return _close(access, request, True, _outcome("", text), "privacy.answer")


def run_export(access: Access, request_id: int) -> dict[str, Any]:
    """The contact's data as JSON for the requester (or an authority); logged as an export."""
    access.require("privacy.handle")
    hidden = [f for f in EXPORTED if not access.sees(f)]
    if hidden:
        raise Forbidden(", ".join(hidden))
    request = _request(request_id)
    contact = db.session.get(Contact, request.contact_id) if request.contact_id else None
    if contact is None or contact.erased_at is not None:
        raise NotFound(f"contact of request {request_id}")
    data = privacy.export_data(contact)
    access.audit("privacy.export", "contact", contact.id, privacy_request_id=request.id)
    if request.status in OPEN and request.kind == PrivacyRequestKind.EXPORT:
        request.status, request.completed_at = PrivacyRequestStatus.COMPLETED, utcnow()
        request.handled_by, request.outcome = access.staff_id, "export delivered by staff"
        privacy.report(request, "privacy_request.completed")
    db.session.flush()
    return data


def erase(access: Access, request_id: int) -> PrivacyRequest:
    access.require("privacy.handle")
    return privacy.erase(request_id, access.staff_id)


def _close(
    access: Access, request: PrivacyRequest, done: bool, outcome: str, action: str
) -> PrivacyRequest:
    now = utcnow()
    request.status = PrivacyRequestStatus.COMPLETED if done else PrivacyRequestStatus.REJECTED
    request.completed_at, request.handled_by, request.outcome = now, access.staff_id, outcome
    request.acknowledged_at = request.acknowledged_at or now
    access.audit(action, "privacy_request", request.id, status=request.status)
    # A rejected request is finished too: the event's status says which.
    privacy.report(request, "privacy_request.completed")
    db.session.flush()
    return request


def _outcome(prefix: str, note: str) -> str:
    text = " ".join(part for part in (prefix, note.strip()) if part)
    if len(text) > MAX_OUTCOME or "\x00" in text:
        raise ValidationFailed({"outcome": f"at most {MAX_OUTCOME} characters of text"})
    return text


def _request(request_id: int) -> PrivacyRequest:
    request = db.session.get(PrivacyRequest, request_id)
    if request is None:
        raise NotFound(f"privacy request {request_id}")
    return request


def _open(request_id: int, kind: PrivacyRequestKind | None = None) -> PrivacyRequest:
    request = _request(request_id)
    if kind is not None and request.kind != kind:
        raise Conflict(f"request {request_id} is not a {kind.value} request")
    if request.status not in OPEN:
        raise Conflict(f"request {request_id} is {request.status}")
    return request
