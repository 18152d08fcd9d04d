"""Apply bounces and complaints: suppressions, bounced mail, soft-bounce scores, withdrawals."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from notifier import webhooks
from notifier.contacts.consent_ledger import Evidence, advertising_keys, append_withdrawals
from notifier.contacts.refusals import locked_contact
from notifier.delivery.composer import verp_keys
from notifier.domain.addresses import InvalidAddress, normalise_email
from notifier.domain.bounces import Feedback, Kind, Target, TargetKind, classify, next_score
from notifier.domain.bounces import parse_return_path as parse_verp_target
from notifier.domain.bounces.providers import ProviderEvent
from notifier.feedback.rates import pause_on_rates
from notifier.infra.context import settings, suppression_salt
from notifier.infra.extensions import db
from notifier.infra.hashing import address_hash
from notifier.infra.unit_of_work import savepoint
from notifier.models import (
    BounceScore,
    ConsentSource,
    Contact,
    Delivery,
    DeliveryStatus,
    MailFeedback,
    Notice,
    NoticeStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from notifier.notices import webhooks as notice_webhooks

log = logging.getLogger(__name__)
# Only a message that was sent can bounce; a later bounce never rewrites a skip or a failure.
BOUNCEABLE = (DeliveryStatus.SENT, DeliveryStatus.UNKNOWN, DeliveryStatus.BOUNCED)


@dataclass(frozen=True)
class Outcome:
    applied: str | None = None  # what was done, e.g. "hard_bounce"
    ignored: str | None = None  # why nothing was done
    problem: str | None = None  # malformed input: rejected


def bounce_domain() -> str:
    return settings().BOUNCE_DOMAIN.strip().lower()


def is_bounce_address(address: str) -> bool:
    domain = bounce_domain()
    return bool(domain) and address.strip().strip("<>").rpartition("@")[2].lower() == domain


def receive_mail(raw: bytes, recipients: Sequence[str], channel: str = "smtp") -> Outcome:
    """A DSN, ARF report or auto-reply sent to the bounce domain (SMTP receiver or webhook)."""
    report = classify(raw)
    if report.problem:
        log.warning("%s: malformed report rejected: %s", channel, report.problem)
        return Outcome(problem=report.problem)
    actionable = report.actionable
    if not actionable:
        return Outcome(ignored=f"{report.kind.value}: nothing to do")
    keys = verp_keys()
    candidates = [*recipients, report.original_return_path]
    target = next((t for t in (parse_verp_target(keys, c) for c in candidates) if t), None)
    # A report that names no message of ours by signature or Message-ID could be forged.
    target = target or _by_message_id(report.original_message_id)
    if target is None:
        log.warning("%s: %s names no message we sent; ignored", channel, report.kind.value)
        return Outcome(ignored="no valid VERP address or known Message-ID")
    event_key = f"{channel}:{hashlib.sha256(raw).hexdigest()}"
    return apply(actionable[0], target, channel, event_key, trusted_recipient=False)


def receive_provider_event(event: ProviderEvent, channel: str) -> Outcome:
    """An authenticated provider's word: its recipient address is trusted without a target."""
    target = parse_verp_target(verp_keys(), event.return_path) or _by_message_id(event.message_id)
    return apply(event.feedback, target, channel, f"{channel}:{event.event_id}"[:200], True)


def apply(
    feedback: Feedback,
    target: Target | None,
    channel: str,
    event_key: str,
    trusted_recipient: bool,
    now: datetime | None = None,
) -> Outcome:
    """One transaction; a report delivered twice (same event_key) is applied once."""
    now = now or utcnow()
    if feedback.kind not in (Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE, Kind.COMPLAINT):
        return Outcome(ignored=f"{feedback.kind.value}: nothing to do")
    args = (feedback, target, channel, event_key, trusted_recipient, now)
    try:
        with savepoint():
            return _apply_once(*args)
    except IntegrityError:
        # Another process applied the same report, or suppressed the address, meanwhile:
        # only this try is undone, and the second one sees its rows.
        return _apply_once(*args)


def _apply_once(
    feedback: Feedback,
    target: Target | None,
    channel: str,
    event_key: str,
    trusted_recipient: bool,
    now: datetime,
) -> Outcome:
    if db.session.scalar(select(MailFeedback.id).where(MailFeedback.event_key == event_key)):
        return Outcome(ignored="already applied")
    campaign_id = _apply(feedback, target, channel, event_key, trusted_recipient, now)
    db.session.flush()
    log.info(
        "%s applied",
        feedback.kind.value,
        extra={"channel": channel, "campaign_id": campaign_id, "category": feedback.category},
    )
    if campaign_id is not None:
        pause_on_rates(campaign_id)
    return Outcome(applied=feedback.kind.value)


def _apply(
    feedback: Feedback,
    target: Target | None,
    channel: str,
    event_key: str,
    trusted_recipient: bool,
    now: datetime,
) -> int | None:
    delivery, notice = _resolve(target)
    reported = _hash(feedback.recipient)
    contact_id = delivery.contact_id if delivery else notice.contact_id if notice else None
    contact = _contact(contact_id, reported if trusted_recipient else None)
    digest = _digest(contact, reported, trusted_recipient)
    evidence = {
        "channel": channel,
        "event": event_key,
        "delivery_id": delivery.id if delivery else None,
        "notice_id": notice.id if notice else None,
        "status": feedback.status,
        "category": feedback.category,
        "diagnostic": feedback.diagnostic,
        "reporter": feedback.reporter,
    }
    if feedback.kind is Kind.COMPLAINT:
        if contact is not None:
            reference = f"{channel}:{evidence['delivery_id'] or evidence['notice_id'] or '-'}"
            append_withdrawals(
                locked_contact(contact.id),
                advertising_keys(),
                Evidence(source=ConsentSource.COMPLAINT, occurred_at=now, reference=reference,
                         extra={k: v for k, v in evidence.items() if v}),
            )  # fmt: skip
        _suppress(digest, "advertising", SuppressionReason.COMPLAINT, evidence, now, contact)
    else:
        _mark_bounced(delivery, notice, feedback.kind)
        if feedback.kind is Kind.HARD_BOUNCE:
            _suppress(digest, "all", SuppressionReason.HARD_BOUNCE, evidence, now, contact)
        elif digest is not None and _soft_score(digest, evidence, now) >= _threshold():
            _suppress(digest, "all", SuppressionReason.SOFT_BOUNCES, evidence, now, contact)
    db.session.add(
        MailFeedback(
            event_key=event_key,
            kind=feedback.kind.value,
            category=feedback.category[:32],
            channel=channel,
            delivery_id=delivery.id if delivery else None,
            notice_id=notice.id if notice else None,
            campaign_id=delivery.campaign_id if delivery else None,
            address_hash=digest,
            status_code=feedback.status,
            diagnostic=feedback.diagnostic[:300],
            reporter=feedback.reporter[:100],
            received_at=now,
        )
    )
    return delivery.campaign_id if delivery else None


def _resolve(target: Target | None) -> tuple[Delivery | None, Notice | None]:
    if target is None:
        return None, None
    if target.kind is TargetKind.DELIVERY:
        return db.session.get(Delivery, target.id), None
    return None, db.session.get(Notice, target.id)


def _by_message_id(message_id: str | None) -> Target | None:
    """Our Message-IDs carry 64 random bits, so knowing one proves the message was received."""
    if not message_id:
        return None
    found = db.session.scalar(select(Delivery.id).where(Delivery.message_id == message_id))
    if found is not None:
        return Target(TargetKind.DELIVERY, found)
    notice = db.session.scalar(select(Notice.id).where(Notice.message_id == message_id))
    return Target(TargetKind.NOTICE, notice) if notice is not None else None


def _hash(recipient: str | None) -> str | None:
    try:
        return address_hash(suppression_salt(), normalise_email(recipient or ""))
    except InvalidAddress:
        return None


def _contact(contact_id: int | None, reported: str | None) -> Contact | None:
    if contact_id is not None:
        contact = db.session.get(Contact, contact_id)
    elif reported is not None:
        contact = db.session.scalar(select(Contact).where(Contact.address_hash == reported))
    else:
        return None
    return contact if contact is not None and contact.erased_at is None else None


def _digest(contact: Contact | None, reported: str | None, trusted: bool) -> str | None:
    """Which address to suppress.

    A report about our message may only suppress the address that message went to: a report
    naming another address (the contact changed it since, or the report lies) suppresses none.
    """
    if contact is not None and contact.address_hash:
        if reported is None or reported == contact.address_hash:
            return contact.address_hash
        log.warning("report names another address than the contact's; not suppressed")
        return None
    return reported if trusted else None


def _mark_bounced(delivery: Delivery | None, notice: Notice | None, kind: Kind) -> None:
    if delivery is not None and delivery.status in BOUNCEABLE:
        delivery.status, delivery.reason = DeliveryStatus.BOUNCED, kind.value
    if notice is not None and notice.status in (NoticeStatus.SENT, NoticeStatus.UNKNOWN):
        # The billing system's webhook hears of it like any status change.
        notice_webhooks.change_status(notice, NoticeStatus.BOUNCED, kind.value)


def _soft_score(digest: str, evidence: dict, now: datetime) -> float:
    row = db.session.get(BounceScore, digest, with_for_update=True)
    half_life = settings().SOFT_BOUNCE_HALF_LIFE_DAYS
    if row is None:
        row = BounceScore(address_hash=digest, score=0.0, bounces=0)
        db.session.add(row)
    row.score = next_score(row.score, row.updated_at, now, half_life)
    row.bounces, row.updated_at = row.bounces + 1, now
    row.last = {key: evidence[key] for key in ("status", "category", "diagnostic")}
    evidence["score"] = round(row.score, 3)
    return row.score


def _threshold() -> float:
    return settings().SOFT_BOUNCE_THRESHOLD


def _suppress(
    digest: str | None,
    scope: str,
    reason: str,
    evidence: dict,
    now: datetime,
    contact: Contact | None,
) -> None:
    if digest is None:
        return
    exists = db.session.scalar(
        select(Suppression.id).where(Suppression.address_hash == digest, Suppression.scope == scope)
    )
    if exists is None:
        db.session.add(
            Suppression(
                address_hash=digest, scope=scope, reason=reason, evidence=evidence, created_at=now
            )
        )
        # Ids only: the address stays behind its hash (a report may have named no contact).
        webhooks.capture(
            "contact.suppressed",
            {
                "contact_id": contact.id if contact is not None else None,
                "external_ref": contact.external_ref if contact is not None else None,
                "scope": scope,
                "reason": str(reason),
            },
        )
