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
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from notifier.contacts.consent_ledger import purpose_or_error
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.domain.errors import Conflict, NotFound, ValidationFailed
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, enqueue_after_commit, queue
from notifier.infra.unit_of_work import discard, savepoint
from notifier.models import Notice, NoticeStatus, NoticeType, Template, utcnow
from notifier.notices import batch, types

log = logging.getLogger(__name__)
SEND_NOTICE_JOB = "workers.jobs.send_notice"  # one notice: the API's, as it is triggered
SEND_NOTICES_JOB = "workers.jobs.send_notices"  # a batch: the scheduler's, as they come due


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
    worker only) and sends their notices at once, as one batch (notices/batch.py). The notice's
    row stays the truth: the batch claims it QUEUED -> SENDING, and if this worker dies
    meanwhile the recovery queues it again.
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
        """Send the notices of up to `limit` queued jobs now, as one batch; returns how many
        jobs this worker took."""
        taken: list[Job] = []
        notice_ids: list[int] = []
        for job_id in self._queue.get_job_ids(0, limit - 1):
            if len(notice_ids) >= batch.SIZE:
                break  # one batch at a time: the campaign's connection is lent only so long
            if job_id in self._left or not self._queue.remove(job_id):
                continue  # given back before, or another worker took it first
            try:
                job = Job.fetch(
                    job_id, connection=self._queue.connection, serializer=JSONSerializer
                )
            except NoSuchJobError:
                continue
            ids = notice_ids_of(job)
            if ids is None:
                # Not ours to run: back to the queue's head, for an RQ worker that records
                # why it fails (a campaign's send job must not fail with it).
                self._give_back(job)
                continue
            taken.append(job)
            notice_ids += ids
        self._waiting = False
        if not taken:
            return 0
        if not self._sent(notice_ids):
            for job in taken:
                self._give_back(job)
            return 0
        for job in taken:
            # Its record may be gone with a FLUSHDB meanwhile: nothing left to delete then.
            with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
                job.delete()
        return len(taken)

    def _give_back(self, job: Job) -> None:
        self._left.add(job.id)
        self._queue.enqueue_job(job, at_front=True)

    @staticmethod
    def _sent(notice_ids: list[int]) -> bool:
        try:
            batch.send_notices(notice_ids)
        except Exception:
            discard()  # what this batch staged, and its jobs: a rollback, as before
            log.exception("notices %s failed inside a send job; left to their queue", notice_ids)
            return False
        return True


def notice_ids_of(job: Job) -> list[int] | None:
    """The notices a send job names, or None for any other job (or a malformed one)."""
    if job.func_name == SEND_NOTICE_JOB and len(job.args) == 1:
        ids = list(job.args)
    elif job.func_name == SEND_NOTICES_JOB and len(job.args) == 1 and isinstance(job.args[0], list):
        ids = list(job.args[0])
    else:
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return None
    return ids


def get_notice(notice_id: int) -> Notice:
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"notice {notice_id}")
    return notice


def send_notice(notice_id: int) -> str:
    """Claim, re-check consent and contract, send, record; returns the resulting status (a
    notice another worker holds, or not yet due, is left as it is)."""
    statuses = batch.send_notices([notice_id])
    return statuses.get(notice_id) or get_notice(notice_id).status


def reconcile_notices(now: datetime) -> int:
    """Enqueue due notices the queue does not hold (those of dead workers too: the recovery
    queued them again)."""
    queued_ids = set(queue(NOTICES).get_job_ids())
    due = db.session.scalars(
        select(Notice.id).where(Notice.status == NoticeStatus.QUEUED, *batch.due(now))
    ).all()
    # Job ids are random, so a queued job is recognised by being there at all: enqueue only
    # when the notices queue is empty, and claiming makes any duplicate job harmless.
    if queued_ids:
        return 0
    enqueue_notices(list(due))
    return len(due)


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
    """Their send jobs (a batch each), after the caller's commit; claiming makes a duplicate
    job harmless."""
    for start in range(0, len(notice_ids), batch.SIZE):
        chunk = list(notice_ids[start : start + batch.SIZE])
        enqueue_after_commit(db.session(), NOTICES, SEND_NOTICES_JOB, chunk)
