"""Privacy requests (export, erasure, restriction, complaint, correction) with legal deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update

from notifier import webhooks
from notifier.campaigns import engagement
from notifier.contacts.consent_ledger import Evidence, append_withdrawals
from notifier.contacts.refusals import locked_contact
from notifier.delivery import system_mail
from notifier.domain.errors import Conflict, NotFound, ValidationFailed
from notifier.domain.privacy_deadlines import deadlines
from notifier.infra.context import profile, suppression_salt
from notifier.infra.extensions import db
from notifier.infra.hashing import address_hash
from notifier.infra.translations import N_, NP_, gettext, pgettext
from notifier.models import (
    Campaign,
    ConsentEvent,
    Contact,
    Delivery,
    Notice,
    NoticeText,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Suppression,
    SuppressionReason,
    SystemMail,
    SystemMailKind,
    SystemMailStatus,
    utcnow,
)
from notifier.models.consent import ConsentSource
from notifier.operations import audit

COMPLAINT_MAX = 4000
KIND_NAMES = {
    PrivacyRequestKind.EXPORT: NP_("privacy request kind", "Download my data"),
    PrivacyRequestKind.ERASURE: NP_("privacy request kind", "Erase my data"),
    PrivacyRequestKind.RESTRICTION: NP_("privacy request kind", "Restrict processing"),
    PrivacyRequestKind.COMPLAINT: NP_("privacy request kind", "Complaint"),
    PrivacyRequestKind.CORRECTION: NP_("privacy request kind", "Verified correction"),
}
OUTCOMES = {
    PrivacyRequestKind.EXPORT: N_(
        "Your data was downloaded when you asked. The request is complete."
    ),
    PrivacyRequestKind.ERASURE: N_(
        "Our staff will erase your personal data by the date above. Your address is kept only as "
        "a hash so that it is never mailed again; consent records are kept 365 days by law."
    ),
    PrivacyRequestKind.RESTRICTION: N_(
        "We stopped processing your data at once: you will receive no email from us, service "
        "notices included, until you tell us otherwise."
    ),
    PrivacyRequestKind.COMPLAINT: N_(
        "The team in charge will look into it and answer you by the date above."
    ),
    PrivacyRequestKind.CORRECTION: N_(
        "Our staff will verify the information and update it by the date above."
    ),
}


@dataclass(frozen=True)
class Requester:
    """Who asked, from where: kept with the request as its evidence."""

    ip: str | None
    user_agent: str | None
    locale: str = "vi"

    def evidence(self) -> dict[str, Any]:
        return {"ip": self.ip, "user_agent": (self.user_agent or "")[:500]}


def open_request(
    contact: Contact,
    kind: PrivacyRequestKind,
    requester: Requester,
    details: dict[str, Any] | None = None,
    *,
    completed: bool = False,
) -> PrivacyRequest:
    """In the caller's transaction: the request, its audit row and its acknowledgement email."""
    now = utcnow()
    due = deadlines(now, profile().default_time_zone)
    acknowledge_by, complete_by = due.acknowledge_by, due.complete_by
    request = PrivacyRequest(
        contact_id=contact.id,
        kind=kind.value,
        status=PrivacyRequestStatus.COMPLETED if completed else PrivacyRequestStatus.RECEIVED,
        details={**(details or {}), "requester": requester.evidence()},
        received_at=now,
        acknowledge_by=acknowledge_by,
        complete_by=complete_by,
        completed_at=now if completed else None,
        outcome="",
    )
    db.session.add(request)
    db.session.flush()
    report(request, "privacy_request.created")
    if completed:
        report(request, "privacy_request.completed")
    audit.record(
        f"contact:{contact.id}",
        f"privacy.{kind.value}",
        "privacy_request",
        request.id,
        ip=requester.ip,
    )
    if contact.email:
        locale = requester.locale if requester.locale in ("vi", "en") else "vi"
        system_mail.queue_mail(
            SystemMailKind.PRIVACY_ACK,
            contact.email,
            locale,
            {
                "request_id": request.id,
                "kind": kind.value,
                "kind_name": pgettext(locale, *KIND_NAMES[kind]),
                "outcome": gettext(locale, OUTCOMES[kind]),
                "received_at": now.isoformat(),
                "acknowledge_by": acknowledge_by.isoformat(),
                "complete_by": complete_by.isoformat(),
                "time_zone": contact.time_zone,
            },
            contact_id=contact.id,
            privacy_request_id=request.id,
        )
    return request


def export(contact_id: int, requester: Requester) -> dict[str, Any]:
    """Ready at once: the request is recorded as completed together with the data it returned."""
    contact = locked_contact(contact_id)
    data = export_data(contact)
    open_request(contact, PrivacyRequestKind.EXPORT, requester, completed=True)
    db.session.flush()
    return data


def request_erasure(contact_id: int, requester: Requester) -> PrivacyRequest:
    """Staff carry it out (erase): a customer's contract may oblige the company to keep data."""
    contact = locked_contact(contact_id)
    request = open_request(contact, PrivacyRequestKind.ERASURE, requester)
    db.session.flush()
    return request


def request_restriction(contact_id: int, requester: Requester) -> PrivacyRequest:
    """Applied at once: stopping processing is always safe, and consent.decide honours it."""
    contact = locked_contact(contact_id)
    if contact.restricted_at is None:
        contact.restricted_at = utcnow()
    request = open_request(contact, PrivacyRequestKind.RESTRICTION, requester, completed=True)
    db.session.flush()
    return request


def complain(contact_id: int, text: str, requester: Requester) -> PrivacyRequest:
    body = (text or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationFailed({"complaint": "is required"})
    if len(body) > COMPLAINT_MAX or "\x00" in body:
        raise ValidationFailed({"complaint": f"at most {COMPLAINT_MAX} characters of text"})
    contact = locked_contact(contact_id)
    request = open_request(contact, PrivacyRequestKind.COMPLAINT, requester, {"text": body})
    db.session.flush()
    return request


def erase_now(contact_id: int, requester: Requester, actor: str) -> PrivacyRequest:
    """An erasure asked for and carried out at once (the API's: the client system already
    decided, as staff do on the privacy pages): the same request and the same erasure. The
    acknowledgement that opening the request queues is cancelled by the erasure, as every
    queued mail to the person is, so nobody is told that staff will erase what is gone."""
    request = request_erasure(contact_id, requester)
    return erase(request.id, None, actor=actor)


def erase(request_id: int, staff_id: int | None, actor: str | None = None) -> PrivacyRequest:
    """Carry out an erasure request: personal data gone, the address hash kept as a suppression."""
    request = db.session.get(PrivacyRequest, request_id)
    if request is None or request.kind != PrivacyRequestKind.ERASURE:
        raise NotFound(f"erasure request {request_id}")
    if request.status == PrivacyRequestStatus.COMPLETED:
        raise Conflict(f"erasure request {request_id} is already completed")
    assert request.contact_id is not None
    contact = locked_contact(request.contact_id)
    now = utcnow()
    every = [p.key for p in profile().purposes]
    append_withdrawals(
        contact,
        every,
        Evidence(
            source=ConsentSource.ERASURE, occurred_at=now, reference=f"privacy_request:{request.id}"
        ),
    )
    _suppress(contact, request.id)
    _clear_contact(contact, now)
    _clear_traces(contact.id, keep_request=request.id)
    request.status, request.completed_at = PrivacyRequestStatus.COMPLETED.value, now
    request.handled_by, request.outcome = staff_id, "personal data erased; address hash suppressed"
    report(request, "privacy_request.completed")
    audit.record(
        actor or (f"staff:{staff_id}" if staff_id else "system"),
        "contact.erase",
        "contact",
        contact.id,
        {"privacy_request_id": request.id},
    )
    db.session.flush()
    return request


def report(request: PrivacyRequest, event: str) -> None:
    """Ids, kind and status only: what the request says stays in notifier."""
    webhooks.capture(
        event,
        {
            "privacy_request_id": request.id,
            "kind": str(request.kind),
            "status": str(request.status),
            "contact_id": request.contact_id,
        },
    )


def _suppress(contact: Contact, request_id: int) -> None:
    digest = contact.address_hash or (
        address_hash(suppression_salt(), contact.email) if contact.email else None
    )
    if digest is None:
        return
    exists = db.session.scalar(
        db.select(Suppression.id).where(
            Suppression.address_hash == digest, Suppression.scope == "all"
        )
    )
    if exists is None:
        db.session.add(
            Suppression(
                address_hash=digest,
                scope="all",
                reason=SuppressionReason.ERASED,
                evidence={"privacy_request_id": request_id},
            )
        )


def _clear_contact(contact: Contact, now: datetime) -> None:
    contact.email = contact.address_hash = contact.external_ref = contact.birth_date = None
    for field in ("name", "phone", "address", "organisation", "contact_person", "national_id"):
        setattr(contact, field, "")
    contact.attributes, contact.deal, contact.tags = {}, {}, []
    contact.erased_at = now


def _clear_traces(contact_id: int, keep_request: int) -> None:
    """The ledger keeps its events (365 days by law); only IP and user agent may go."""
    db.session.execute(
        update(ConsentEvent)
        .where(ConsentEvent.contact_id == contact_id)
        .values(ip=None, user_agent=None),
        execution_options={"synchronize_session": False},
    )
    db.session.execute(
        update(SystemMail)
        .where(SystemMail.contact_id == contact_id)
        .values(to_address=None, data={}),
        execution_options={"synchronize_session": False},
    )
    db.session.execute(
        update(SystemMail)
        .where(SystemMail.contact_id == contact_id, SystemMail.status == SystemMailStatus.QUEUED)
        .values(status=SystemMailStatus.CANCELLED),
        execution_options={"synchronize_session": False},
    )
    db.session.execute(
        update(PrivacyRequest).where(PrivacyRequest.contact_id == contact_id).values(details={}),
        execution_options={"synchronize_session": False},
    )
    db.session.execute(
        update(Notice).where(Notice.contact_id == contact_id).values(data={}),
        execution_options={"synchronize_session": False},
    )
    engagement.erase_contact(contact_id)  # opens and clicks name the person: they go too


def export_data(contact: Contact) -> dict[str, Any]:
    """Everything held about the person, in one JSON document (Decree 13/2023 right of access)."""
    identity = profile().identity
    fields = [
        "email",
        "name",
        "phone",
        "address",
        "organisation",
        "contact_person",
        "national_id",
        "birth_date",
        "locale",
        "time_zone",
        "external_ref",
        "contract_ends_on",
    ]
    texts = {
        sha: text for sha, text in db.session.execute(db.select(NoticeText.sha256, NoticeText.text))
    }
    events = db.session.scalars(
        db.select(ConsentEvent)
        .where(ConsentEvent.contact_id == contact.id)
        .order_by(ConsentEvent.id)
    )
    deliveries = db.session.execute(
        db.select(Delivery, Campaign.name, Campaign.purpose_key)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.contact_id == contact.id)
        .order_by(Delivery.id)
    ).all()
    notices = db.session.scalars(db.select(Notice).where(Notice.contact_id == contact.id))
    requests = db.session.scalars(
        db.select(PrivacyRequest).where(PrivacyRequest.contact_id == contact.id)
    )
    return {
        "exported_at": utcnow().isoformat(),
        "controller": {
            "company": identity.company,
            "email": identity.email,
            "phone": identity.phone,
            "address": identity.address,
        },
        "contact": {f: _plain(getattr(contact, f)) for f in fields}
        | {
            "tags": contact.tag_names,
            "attributes": contact.attributes,
            "restricted_at": _plain(contact.restricted_at),
            "created_at": _plain(contact.created_at),
        },
        "consent_events": [
            {
                "id": e.id,
                "purpose": e.purpose_key,
                "action": e.action,
                "source": e.source,
                "occurred_at": _plain(e.occurred_at),
                "notice_version": e.notice_version,
                "notice_text": texts.get(e.notice_sha256 or ""),
                "locale": e.locale,
                "ip": e.ip,
                "user_agent": e.user_agent,
            }
            for e in events
        ],
        "deliveries": [
            {
                "campaign": name,
                "purpose": purpose,
                "status": d.status,
                "reason": d.reason,
                "sent_at": _plain(d.sent_at),
                "tracked": bool(d.tracking),
            }
            for d, name, purpose in deliveries
        ],
        # Opens and clicks of tracked mail (docs/tracking.md): what was recorded about them.
        "engagement": [
            {
                "campaign": campaign,
                "kind": {"c": "click", "o": "open"}.get(kind, kind),
                "link": link,
                "machine": bool(flags),
                "at": _plain(at),
            }
            for campaign, kind, link, flags, at in engagement.contact_engagement(contact.id)
        ],
        "notices": [
            {
                "type": n.type,
                "purpose": n.purpose_key,
                "status": n.status,
                "sent_at": _plain(n.sent_at),
            }
            for n in notices
        ],
        "privacy_requests": [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "received_at": _plain(r.received_at),
                "complete_by": _plain(r.complete_by),
                "completed_at": _plain(r.completed_at),
            }
            for r in requests
        ],
    }


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
