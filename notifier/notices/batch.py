"""Notices sent in batches: one claim, one read of what decides them, outcomes in groups.

A day's reminders come due by the thousand while a campaign runs, and each notice used to pay
for its own claim, its own consent reads, a dozen ORM loads and three writes and a commit
(about 30 ms of CPU, and more waiting on the database). A batch claims every due notice among
the ids it is given in one statement under one token, reads their contacts, consent,
reminders, templates and webhook subscribers once, then sends them in turn, as a campaign batch
does (notifier/delivery/sending.py):

- each message that went out is appended to the claim's Redis journal at once (the relay's 250
  and its Message-ID), and the outcomes are written in groups, fenced by the token
  (`bulk.update_owned_by_id`), with their send-log rows, reminders and webhook events, in one
  commit a group;
- if the worker dies, the recovery (notifier/delivery/recovery.py) queues the batch's rows
  again, and gives each row the journal names its Message-ID: the next batch that claims such a
  row records it as sent without sending it again. Only the message that may have been on the
  wire is sent twice (service mail: rather twice than never), as one notice at a time did;
- with no journal (Redis down), each outcome is written before the next message leaves;
- the lease is renewed before a message once a quarter of it is gone, and the batch stops when
  the renewal finds none of its rows left: a slow relay cannot make it send rows the recovery
  gave to another worker.

Consent and the subscription are read when the batch starts, as a campaign batch reads
eligibility when it claims: a batch lasts well under a second at full speed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update

from notifier import webhooks as outgoing
from notifier.delivery import liveness
from notifier.delivery.composer import Composer, Recipient, cached_composer, envelope_sender
from notifier.delivery.eligibility import decisions_for
from notifier.delivery.rendering.errors import TemplateError
from notifier.delivery.sending import Journal, journal_key, lease, verdict_on
from notifier.delivery.single import Throttled, refused, send_one
from notifier.domain.consent_rules import Decision
from notifier.domain.send_outcome import Fate, SendResult, SendStatus, render_failed
from notifier.infra.bulk import insert_rows, update_owned_by_id
from notifier.infra.extensions import db
from notifier.infra.queues import redis_connection
from notifier.infra.unit_of_work import checkpoint
from notifier.mail.message import message_id_of
from notifier.models import Contact, Notice, NoticeStatus, NoticeType, SendLog, Template, utcnow
from notifier.notices import reminders, webhooks

log = logging.getLogger(__name__)
SIZE = 100  # notices a batch claims at most: about a third of a second at full speed
FLUSH_EVERY = 20  # outcomes written in one commit at most
FLUSH_SECONDS = 0.05  # and none held longer: a notice's status (and its webhook) is soon known


@dataclass(frozen=True)
class _Claimed:
    id: int
    type: str
    purpose_key: str
    contact_id: int
    idempotency_key: str
    data: dict[str, Any]
    attempts: int
    # Set by the recovery from a dead worker's journal: the message went out, only its outcome
    # was not written. Recorded as sent, never sent again.
    sent_message_id: str | None


@dataclass(frozen=True)
class _Held:
    """An outcome not yet written: its row's new status and values."""

    notice: _Claimed
    status: NoticeStatus
    values: dict[str, Any]


@dataclass(frozen=True)
class _Addressee:
    recipient: Recipient
    external_ref: str | None


@dataclass
class _Batch:
    """What decides each claimed notice, read once for the whole batch."""

    token: str
    decisions: dict[tuple[int, str], Decision]
    refusals: dict[int, str]
    addressees: dict[int, _Addressee]
    composers: dict[str, Composer]
    status_subscribers: tuple[int, ...]
    reminder_subscribers: tuple[int, ...]
    leased_at: float
    lease_seconds: float
    held: list[_Held] = field(default_factory=list)
    flushed_at: float = field(default_factory=time.monotonic)


def send_notices(notice_ids: Sequence[int]) -> dict[int, str]:
    """Claim the due notices among `notice_ids` (others are left as they are), SIZE at a time,
    send and record each; returns each claimed notice's resulting status."""
    ids = sorted(set(notice_ids))
    statuses: dict[int, str] = {}
    for start in range(0, len(ids), SIZE):
        statuses.update(_send_batch(ids[start : start + SIZE]))
    return statuses


def _send_batch(notice_ids: list[int]) -> dict[int, str]:
    now = utcnow()
    token = str(uuid.uuid4())
    liveness.announce(token)
    try:
        claimed = _claim(notice_ids, token, now)
        # The send path's boundary: the claim is visible to every worker before a message leaves.
        checkpoint()
        if not claimed:
            return {}
        batch = _read(claimed, token, now)
        return _send_claimed(claimed, batch)
    finally:
        liveness.forget(token)


def _send_claimed(claimed: list[_Claimed], batch: _Batch) -> dict[int, str]:
    statuses: dict[int, str] = {}
    journal = Journal(redis_connection(), journal_key(batch.token))
    try:
        for notice in claimed:
            if batch.held and (journal.broken or _flush_due(batch)):
                # Right before the next message leaves: the journal's replies first, then the
                # outcomes it holds, so the database never runs ahead of the journal.
                journal.sync()
                statuses.update(_flush(batch))
            if _lease_due(batch) and not _renew(batch):
                break  # the recovery took the claim: its rows are not ours to send
            held = _send(notice, batch)
            if held.status is NoticeStatus.SENT:
                journal.append(f"{notice.id}|{held.status}||{held.values['message_id']}")
            batch.held.append(held)
        journal.sync()
        statuses.update(_flush(batch))
        journal.discard()  # only now is every outcome in the database
    finally:
        # On an error (the database restarting, say) the journal stays for the recovery.
        journal.close()
    return statuses


def _flush_due(batch: _Batch) -> bool:
    return (
        len(batch.held) >= FLUSH_EVERY
        or time.monotonic() - batch.flushed_at > FLUSH_SECONDS
        or _lease_due(batch)
    )


def due(now: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Its send_at (if any) has come, and so has its retry (if any)."""
    return (
        or_(Notice.send_at.is_(None), Notice.send_at <= now),
        or_(Notice.next_attempt_at.is_(None), Notice.next_attempt_at <= now),
    )


def _claim(notice_ids: list[int], token: str, now: datetime) -> list[_Claimed]:
    """QUEUED -> SENDING in one statement: each notice goes to one worker only. Only a due
    notice is claimed: an early job leaves it to its backoff and its send_at."""
    if not notice_ids:
        return []
    rows = db.session.execute(
        update(Notice)
        .where(Notice.id.in_(notice_ids), Notice.status == NoticeStatus.QUEUED, *due(now))
        .values(status=NoticeStatus.SENDING, claimed_at=now, claim_token=token)
        .returning(Notice.id, Notice.type, Notice.purpose_key, Notice.contact_id,
                   Notice.idempotency_key, Notice.data, Notice.attempts, Notice.message_id),
        execution_options={"synchronize_session": False},
    ).all()  # fmt: skip
    claimed = [_Claimed(r.id, r.type, r.purpose_key, r.contact_id, r.idempotency_key,
                        dict(r.data or {}), r.attempts or 0, r.message_id)
               for r in rows]  # fmt: skip
    return sorted(claimed, key=lambda notice: notice.id)


def _read(claimed: list[_Claimed], token: str, now: datetime) -> _Batch:
    contact_ids = sorted({notice.contact_id for notice in claimed})
    contacts = list(db.session.scalars(select(Contact).where(Contact.id.in_(contact_ids))))
    pairs = sorted({(notice.contact_id, notice.purpose_key) for notice in claimed})
    reminder_ids = [n.id for n in claimed if reminders.is_reminder_key(n.idempotency_key)]
    return _Batch(
        token=token,
        decisions=decisions_for(contacts, pairs, now),
        refusals=reminders.refusals(reminder_ids),
        addressees={
            contact.id: _Addressee(
                Recipient(
                    contact.id,
                    contact.email or "",
                    contact.name,
                    contact.locale,
                    dict(contact.attributes or {}),
                ),
                contact.external_ref,
            )
            for contact in contacts
        },
        composers=_composers({notice.type for notice in claimed}),
        status_subscribers=outgoing.subscribers(webhooks.EVENT),
        reminder_subscribers=outgoing.subscribers(reminders.SENT_EVENT) if reminder_ids else (),
        leased_at=time.monotonic(),
        lease_seconds=lease().total_seconds(),
    )


def _composers(type_keys: set[str]) -> dict[str, Composer]:
    rows = db.session.execute(
        select(NoticeType.key, Template)
        .join(Template, Template.id == NoticeType.template_id)
        .where(NoticeType.key.in_(sorted(type_keys)))
    ).all()
    return {
        key: cached_composer(
            template.id, template.version, template.sources(), template.purpose_key
        )
        for key, template in rows
    }


def _lease_due(batch: _Batch) -> bool:
    """As for a campaign batch (sending.lease_due): a quarter of the lease is gone, or the
    heartbeat is so late that the recovery may soon call this worker dead."""
    now = time.monotonic()
    return now - batch.leased_at > batch.lease_seconds / 4 or now > liveness.send_deadline(
        batch.token, batch.leased_at
    )


def _renew(batch: _Batch) -> bool:
    """Renew the claim of the rows not yet sent; False when none is ours any more."""
    began = time.monotonic()  # the lease runs from before the write: the safe side
    renewed = db.session.execute(
        update(Notice)
        .where(Notice.claim_token == batch.token, Notice.status == NoticeStatus.SENDING)
        .values(claimed_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    checkpoint()
    batch.leased_at = began
    return bool(getattr(renewed, "rowcount", 0))


def _send(notice: _Claimed, batch: _Batch) -> _Held:
    """Check and send one notice of the batch; its outcome, to be written with its group."""
    decision = batch.decisions[(notice.contact_id, notice.purpose_key)]
    if notice.sent_message_id is not None:  # it went out before its worker died: record it
        return _Held(notice, NoticeStatus.SENT, {
            "message_id": notice.sent_message_id, "sent_at": utcnow(), "reason": None,
            "attempts": notice.attempts + 1, "consent_event_id": decision.consent_event_id,
        })  # fmt: skip
    # A reminder is checked as consent is: what it reminds of must still hold when it leaves.
    refusal = batch.refusals.get(notice.id) or (None if decision.allowed else decision.reason.value)
    addressee = batch.addressees.get(notice.contact_id)
    if refusal is not None or addressee is None:
        return _Held(notice, NoticeStatus.SKIPPED, {"reason": refusal or "erased"})
    try:
        result, message = _deliver(notice, batch, addressee.recipient)
    except Throttled as held:  # the relays' limits: nothing tried, no attempt counted
        return _Held(notice, NoticeStatus.QUEUED,
                     {"next_attempt_at": held.due(), "reason": held.reason[:64]})  # fmt: skip
    values: dict[str, Any] = {
        "smtp_code": result.code,
        "smtp_message": (result.message or "")[:500],
        "consent_event_id": decision.consent_event_id,
    }
    verdict = (
        render_failed(notice.attempts)
        if message is None
        else verdict_on(result.status, notice.attempts, addressee.recipient.email,
                        resend_unknown=True)
    )  # fmt: skip
    values["attempts"] = verdict.attempts
    reason = verdict.reason.value if verdict.reason else None
    if verdict.fate is Fate.SENT:
        assert message is not None
        values.update(message_id=message_id_of(message), sent_at=utcnow(), reason=None)
        return _Held(notice, NoticeStatus.SENT, values)
    if verdict.fate is Fate.RETRY:
        # 4xx, a relay that cannot be reached, or a lost connection: service mail is tried again.
        values.update(next_attempt_at=verdict.next_attempt_at, reason=reason)
        return _Held(notice, NoticeStatus.QUEUED, values)
    values["reason"] = reason
    return _Held(notice, NoticeStatus.FAILED, values)


def _deliver(
    notice: _Claimed, batch: _Batch, recipient: Recipient
) -> tuple[SendResult, bytes | None]:
    """The message and the relay's answer; no message when the data does not fit the template."""
    composer = batch.composers.get(notice.type)
    if composer is None:  # its type was removed after the notice was made
        return SendResult(SendStatus.FAILED, None, f"render: no notice type {notice.type}"), None
    try:
        message = composer.compose(recipient, notice.data, f"n{notice.id}")
    except (TemplateError, ValueError) as exc:
        return SendResult(SendStatus.FAILED, None, f"render: {exc}"), None
    return send_one(envelope_sender(notice_id=notice.id), recipient.email, message), message


def _flush(batch: _Batch) -> dict[int, str]:
    """The held outcomes of rows still under the claim's token, with what goes with them (the
    send log, the reminders, the webhook events), in one commit; returns each row's status
    (for a row the recovery took meanwhile: its status now, nothing of ours written)."""
    held, batch.held = batch.held, []
    rows = [{"id": h.notice.id, "status": h.status, "claim_token": None, **h.values}
            for h in held]  # fmt: skip
    written = update_owned_by_id(Notice, rows, "claim_token", batch.token)
    kept = [h for h in held if h.notice.id in written]
    sent = [h for h in kept if h.status is NoticeStatus.SENT]
    insert_rows(SendLog, [
        {"contact_id": h.notice.contact_id, "purpose_key": h.notice.purpose_key,
         "advertising": False, "sent_at": h.values["sent_at"]}
        for h in sent
    ])  # fmt: skip
    reminders.mark_sent(
        [(h.notice.id, h.notice.contact_id, _external_ref(batch, h)) for h in sent
         if reminders.is_reminder_key(h.notice.idempotency_key)],
        batch.reminder_subscribers,
    )  # fmt: skip
    if batch.status_subscribers:
        for h in kept:
            report = webhooks.StatusReport(
                h.notice.id, h.notice.type, h.status, h.values.get("reason"), h.notice.contact_id,
                h.values.get("sent_at"), h.values.get("message_id"), h.values.get("smtp_code"),
            )  # fmt: skip
            webhooks.report(report, _external_ref(batch, h), batch.status_subscribers)
    checkpoint()
    batch.flushed_at = time.monotonic()
    statuses = {h.notice.id: str(h.status) for h in kept}
    lost = [h.notice.id for h in held if h.notice.id not in written]
    if lost:
        refused(Notice, lost, batch.token)
        now = db.session.execute(select(Notice.id, Notice.status).where(Notice.id.in_(lost)))
        statuses.update({notice_id: str(status) for notice_id, status in now})
    return statuses


def _external_ref(batch: _Batch, held: _Held) -> str | None:
    addressee = batch.addressees.get(held.notice.contact_id)
    return addressee.external_ref if addressee else None
