"""Transactional notices (renewals): one per idempotency key, sent first, checked at claim time."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError

from notifier.contacts.consent_ledger import purpose_or_error
from notifier.delivery.composer import Recipient, cached_composer, envelope_sender
from notifier.delivery.eligibility import decision_for
from notifier.delivery.rendering.errors import TemplateError
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.delivery.sending import verdict_on
from notifier.delivery.single import claim, send_one, still_ours
from notifier.domain.errors import Conflict, NotFound, ValidationFailed
from notifier.domain.send_outcome import Fate, SendResult, SendStatus, render_failed
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, enqueue_after_commit, queue
from notifier.infra.unit_of_work import checkpoint, discard, savepoint
from notifier.mail.message import message_id_of
from notifier.models import Notice, NoticeStatus, NoticeType, SendLog, Template, utcnow
from notifier.notices import reminders, types, webhooks

log = logging.getLogger(__name__)
SEND_NOTICE_JOB = "workers.jobs.send_notice"


@dataclass(frozen=True)
class Triggered:
    notice: Notice
    created: bool


def request_fingerprint(body: Any) -> str:
    """The same idempotency key with a different body is a client bug: the hash tells them apart."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def define_notice_type(key: str, name: str, purpose_key: str, template_id: int) -> NoticeType:
    purpose = purpose_or_error(purpose_key)
    if purpose.is_advertising:
        raise ValidationFailed({"purpose_key": "notices are service mail, not advertising"})
    template = db.session.get(Template, template_id)
    if template is None or template.purpose_key != purpose_key:
        raise ValidationFailed({"template_id": f"needs a template for purpose {purpose_key}"})
    notice_type = db.session.get(NoticeType, key) or NoticeType(key=key)
    notice_type.name, notice_type.purpose_key, notice_type.template_id = (
        name,
        purpose_key,
        template_id,
    )
    notice_type.active = True
    db.session.add(notice_type)
    db.session.flush()
    return notice_type


def define_from_layout(
    key: str, name: str, purpose_key: str, layout_key: str, now: datetime
) -> tuple[NoticeType, dict[str, dict[str, Any]]]:
    """A new notice type with its own copy of a built-in service layout (both variants), and
    the layout's sample data per locale: a notice `data` that renders it."""
    layout = builtin_layouts().get(layout_key)
    if layout is None or layout.advertising:
        raise ValidationFailed({"layout": f"{layout_key!r} is not a built-in service layout"})
    if db.session.get(NoticeType, key) is not None:
        raise Conflict(f"notice type {key!r} exists; change it with PUT")
    purpose = purpose_or_error(purpose_key)
    if purpose.is_advertising:
        raise ValidationFailed({"purpose": "notices are service mail, not advertising"})
    template = types.notice_template(name, purpose_key, layout.variants)
    notice_type = define_notice_type(key, name, purpose_key, template.id)
    return notice_type, layout.samples(now, profile().identity)


def notice_type_detail(key: str) -> tuple[NoticeType, Template, types.DataFields]:
    notice_type = db.session.get(NoticeType, key)
    if notice_type is None or not notice_type.active:
        raise NotFound(f"notice type {key!r}")
    template = db.session.get(Template, notice_type.template_id)
    assert template is not None  # a foreign key
    return notice_type, template, types.variants_fields(template.sources())


def trigger(
    type_key: str,
    contact_id: int,
    data: dict[str, Any],
    idempotency_key: str,
    fingerprint: str,
    send_at: datetime | None = None,
    api_key_id: int | None = None,
) -> Triggered:
    existing = _by_key(idempotency_key)
    if existing is not None:
        return _replay(existing, fingerprint)
    notice_type = db.session.get(NoticeType, type_key)
    if notice_type is None or not notice_type.active:
        raise ValidationFailed({"type": f"unknown notice type {type_key!r}"})
    notice = Notice(
        type=type_key,
        purpose_key=notice_type.purpose_key,
        contact_id=contact_id,
        idempotency_key=idempotency_key,
        request_sha256=fingerprint,
        data=data,
        status=NoticeStatus.QUEUED,
        # In UTC as stored: the caller answers with the notice before the entry point commits it.
        send_at=send_at.astimezone(UTC) if send_at else None,
        api_key_id=api_key_id,
    )
    try:
        with savepoint():
            db.session.add(notice)
    except IntegrityError:
        # A concurrent request with the same key won the insert: answer as it did. Only the
        # insert is undone, not the rest of the caller's unit of work.
        winner = _by_key(idempotency_key)
        if winner is None:
            raise
        return _replay(winner, fingerprint)
    if send_at is None or send_at <= utcnow():
        enqueue_after_commit(db.session(), NOTICES, SEND_NOTICE_JOB, notice.id)
    return Triggered(notice, True)


def _by_key(idempotency_key: str) -> Notice | None:
    return db.session.scalar(select(Notice).where(Notice.idempotency_key == idempotency_key))


def _replay(notice: Notice, fingerprint: str) -> Triggered:
    if notice.request_sha256 != fingerprint:
        raise Conflict("this Idempotency-Key was used with a different request body")
    return Triggered(notice, False)


class NoticeDesk:
    """Notices sent from inside a long campaign send job, so that none waits for a batch.

    Between two campaign messages the send job looks (at most every `every` seconds) whether
    notice jobs are queued; if so it takes them off the queue itself (LREM: each goes to one
    worker only) and sends them at once. The notice's row stays the truth: send_notice claims
    it QUEUED -> SENDING, and if this worker dies meanwhile the recovery queues it again.
    """

    def __init__(self, every: float = 0.05) -> None:
        self._queue = queue(NOTICES)
        self._every, self._next, self._waiting = every, 0.0, False
        self._left: set[str] = set()  # jobs this desk gave back: a worker of their own runs them

    def waiting(self) -> bool:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._every
            if self._left:  # only a job not given back counts
                self._waiting = any(i not in self._left for i in self._queue.get_job_ids(0, 20))
            else:
                self._waiting = self._queue.count > 0
        return self._waiting

    def serve(self, limit: int = 20) -> int:
        """Send up to `limit` queued notices now; returns how many this worker took."""
        served = 0
        for job_id in self._queue.get_job_ids(0, limit - 1):
            if job_id in self._left or not self._queue.remove(job_id):
                continue  # given back before, or another worker took it first
            try:
                job = Job.fetch(
                    job_id, connection=self._queue.connection, serializer=JSONSerializer
                )
            except NoSuchJobError:
                continue
            if job.func_name == SEND_NOTICE_JOB and self._sent(job):
                # Its record may be gone with a FLUSHDB meanwhile: nothing left to delete then.
                with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
                    job.delete()
                served += 1
            else:
                # Not ours to run, or it failed: back to the queue's head, for an RQ worker
                # that records why it fails (a campaign's send job must not fail with it).
                self._left.add(job_id)
                self._queue.enqueue_job(job, at_front=True)
        self._waiting = False
        return served

    @staticmethod
    def _sent(job: Job) -> bool:
        try:
            send_notice(int(job.args[0]))
        except Exception:
            discard()  # what this notice staged, and its jobs: a rollback, as before
            log.exception("notice job %s failed inside a send job; left to its queue", job.id)
            return False
        return True


def get_notice(notice_id: int) -> Notice:
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"notice {notice_id}")
    return notice


def send_notice(notice_id: int) -> str:
    """Claim, re-check consent and contract, send, record; returns the resulting status."""
    now = utcnow()
    # A job that comes early (one enqueued before the last try's 4xx, or a stray duplicate)
    # leaves the notice to its backoff and its send_at: only a notice that is due is claimed.
    token = claim(Notice, notice_id, NoticeStatus.QUEUED, NoticeStatus.SENDING, now, *_due(now))
    # The send path's boundary: the claim is visible to every worker before the message goes out.
    checkpoint()
    if token is None:
        return get_notice(notice_id).status
    notice = get_notice(notice_id)
    decision = decision_for(notice.contact_id, notice.purpose_key, now)
    # A reminder is checked as consent is: what it reminds of must still hold when it leaves.
    refusal = reminders.refusal(notice) or (None if decision.allowed else decision.reason.value)
    if refusal is not None:
        if not still_ours(Notice, notice_id, token, NoticeStatus.SENDING):
            return _refused(notice)
        return _record(notice, NoticeStatus.SKIPPED, reason=refusal)
    result, message = _deliver(notice)
    # Fenced: nothing of this result is written if the recovery gave the notice away meanwhile.
    if not still_ours(Notice, notice_id, token, NoticeStatus.SENDING):
        return _refused(notice)
    notice.consent_event_id = decision.consent_event_id
    return _record_result(notice, result, message)


def _refused(notice: Notice) -> str:
    db.session.rollback()
    db.session.refresh(notice)
    return notice.status


def _deliver(notice: Notice) -> tuple[SendResult, bytes | None]:
    """The message and the relay's answer; no message when the data does not fit the template."""
    from notifier.models import Contact

    notice_type = db.session.get(NoticeType, notice.type)
    contact = db.session.get(Contact, notice.contact_id)
    assert notice_type is not None and contact is not None and contact.email
    template = db.session.get(Template, notice_type.template_id)
    assert template is not None
    composer = cached_composer(template.id, template.version, template.sources(),
                               notice.purpose_key)  # fmt: skip
    recipient = Recipient(contact.id, contact.email, contact.name, contact.locale,
                          dict(contact.attributes or {}))  # fmt: skip
    try:
        message = composer.compose(recipient, dict(notice.data or {}), f"n{notice.id}")
    except (TemplateError, ValueError) as exc:
        return SendResult(SendStatus.FAILED, None, f"render: {exc}"), None
    return send_one(envelope_sender(notice_id=notice.id), contact.email, message), message


def _record_result(notice: Notice, result: SendResult, message: bytes | None) -> str:
    notice.smtp_code, notice.smtp_message = result.code, (result.message or "")[:500]
    verdict = (
        render_failed(notice.attempts)
        if message is None
        else verdict_on(result.status, notice.attempts, _address(notice), resend_unknown=True)
    )
    notice.attempts = verdict.attempts
    if verdict.fate is Fate.SENT:
        assert message is not None
        notice.message_id, notice.sent_at = message_id_of(message), utcnow()
        db.session.add(SendLog(contact_id=notice.contact_id, purpose_key=notice.purpose_key,
                               advertising=False, sent_at=notice.sent_at))  # fmt: skip
        reminders.sent(notice)
        return _record(notice, NoticeStatus.SENT)
    reason = verdict.reason.value if verdict.reason else None
    if verdict.fate is Fate.RETRY:
        # 4xx, a relay that cannot be reached, or a lost connection: service mail is tried again.
        notice.next_attempt_at = verdict.next_attempt_at
        return _record(notice, NoticeStatus.QUEUED, reason=reason)
    return _record(notice, NoticeStatus.FAILED, reason=reason)


def _address(notice: Notice) -> str:
    from notifier.models import Contact

    contact = db.session.get(Contact, notice.contact_id)  # loaded already by _deliver
    return (contact.email or "") if contact is not None else ""


def _record(notice: Notice, status: NoticeStatus, reason: str | None = None) -> str:
    webhooks.change_status(notice, status, reason)
    # The send path's boundary: the outcome stands before the next message (a campaign job's
    # NoticeDesk sends several in a row), and the webhook's job is enqueued now.
    checkpoint()
    return status


def _due(now: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Its send_at (if any) has come, and so has its retry (if any)."""
    return (
        or_(Notice.send_at.is_(None), Notice.send_at <= now),
        or_(Notice.next_attempt_at.is_(None), Notice.next_attempt_at <= now),
    )


def reconcile_notices(now: datetime) -> int:
    """Enqueue due notices the queue does not hold (those of dead workers too: the recovery
    queued them again)."""
    queued_ids = set(queue(NOTICES).get_job_ids())
    due = db.session.scalars(
        select(Notice.id).where(Notice.status == NoticeStatus.QUEUED, *_due(now))
    ).all()
    # Job ids are random, so a queued job is recognised by being there at all: enqueue only
    # when the notices queue is empty, and claiming makes any duplicate job harmless.
    enqueued = 0
    if not queued_ids:
        for notice_id in due:
            enqueue_after_commit(db.session(), NOTICES, SEND_NOTICE_JOB, notice_id)
            enqueued += 1
    return enqueued


def coming_due(after: datetime, until: datetime) -> list[tuple[int, datetime]]:
    """Queued notices whose send_at falls in (after, until], soonest first: the scheduler
    process enqueues each at its moment (processes/scheduler.NoticeTimer)."""
    rows = db.session.execute(
        select(Notice.id, Notice.send_at)
        .where(
            Notice.status == NoticeStatus.QUEUED,
            Notice.send_at > after,
            Notice.send_at <= until,
            Notice.next_attempt_at.is_(None),  # a retry waits for its backoff, not its send_at
        )
        .order_by(Notice.send_at)
    ).all()
    return [(notice_id, send_at) for notice_id, send_at in rows if send_at is not None]


def enqueue_notices(notice_ids: list[int]) -> None:
    """Their send jobs, after the caller's commit; claiming makes a duplicate job harmless."""
    for notice_id in notice_ids:
        enqueue_after_commit(db.session(), NOTICES, SEND_NOTICE_JOB, notice_id)
