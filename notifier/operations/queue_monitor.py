"""The RQ queues as operators see them: depths, workers, failed jobs, and requeue or delete."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from rq import Queue, Worker
from rq.exceptions import DeserializationError, InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result
from rq.serializers import JSONSerializer

from notifier.domain.errors import DomainError, NotFound
from notifier.infra.extensions import db
from notifier.infra.queues import PRIORITY, queue, redis_connection
from notifier.operations.access import Access

# Only the admin role holds staff.manage (tests/unit/domain/test_profile.py keeps it from the
# other roles of the shipped profiles); failed jobs can quote recipients and requeueing re-runs
# sending.
PERMISSION = "staff.manage"
PAGE_SIZE = 50


class UnknownQueue(NotFound):
    """Not one of the queues the product uses."""


class UnknownJob(NotFound):
    """No failed job with this id: never there, or already requeued, deleted or expired."""


class QueuesUnavailable(DomainError):
    """Redis did not answer."""


@dataclass(frozen=True)
class QueueStats:
    name: str
    queued: int
    started: int
    deferred: int
    scheduled: int
    failed: int
    oldest_age: timedelta | None


@dataclass(frozen=True)
class WorkerView:
    name: str
    state: str
    queues: list[str]
    job_id: str | None
    job_func: str | None
    heartbeat_age: timedelta | None
    successful: int
    failed: int


@dataclass(frozen=True)
class FailedJob:
    id: str
    func: str
    args: str
    ended_at: datetime | None
    error: str
    traceback: str


@dataclass(frozen=True)
class FailedPage:
    queue: str
    rows: list[FailedJob]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class Overview:
    queues: list[QueueStats]
    workers: list[WorkerView]
    failed: FailedPage


def overview(access: Access, now: datetime, failed_queue: str = "", page: int = 1) -> Overview:
    """Reads only: registries are counted without RQ's cleanup, which would move jobs about."""
    access.require(PERMISSION)
    if failed_queue and failed_queue not in PRIORITY:
        raise UnknownQueue(failed_queue)
    with _answering():
        stats = [_stats(queue(name), now) for name in PRIORITY]
        # Failed jobs of the first queue that has any, unless the page asked for one.
        shown = failed_queue or next((s.name for s in stats if s.failed), PRIORITY[0])
        failed = _failed_page(queue(shown), page)
        workers = _workers(now)
    # A traceback may quote a recipient's address (an SMTP refusal): the view is logged.
    access.audit("queues.view", "rq_queue", shown, jobs=[job.id for job in failed.rows])
    db.session.flush()
    return Overview(stats, workers, failed)


def requeue(access: Access, job_id: str) -> str:
    """Back to the end of its queue; returns the queue's name."""
    access.require(PERMISSION)
    with _answering():
        registry = _registry_holding(job_id)
        try:
            registry.requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation) as exc:
            # Its data expired, or another admin moved it a moment ago.
            registry.remove(job_id)
            raise UnknownJob(job_id) from exc
    access.audit("queues.requeue", "rq_job", job_id, queue=registry.name)
    db.session.flush()
    return registry.name


def delete(access: Access, job_id: str) -> str:
    """Gone for good, with its stored result; returns the queue's name."""
    access.require(PERMISSION)
    with _answering():
        registry = _registry_holding(job_id)
        # When its data has expired, only the registry entry is left to remove.
        with suppress(NoSuchJobError):
            Job.fetch(job_id, connection=redis_connection(), serializer=JSONSerializer).delete()
        registry.remove(job_id)
    access.audit("queues.delete", "rq_job", job_id, queue=registry.name)
    db.session.flush()
    return registry.name


def requeue_all(access: Access, queue_name: str) -> int:
    """Every failed job of one queue back to it; returns how many went."""
    access.require(PERMISSION)
    if queue_name not in PRIORITY:
        raise UnknownQueue(queue_name)
    moved = 0
    with _answering():
        registry = queue(queue_name).failed_job_registry
        for job_id in registry.get_job_ids(cleanup=False):
            try:
                registry.requeue(job_id)
            except (NoSuchJobError, InvalidJobOperation):
                registry.remove(job_id)
            else:
                moved += 1
    access.audit("queues.requeue_all", "rq_queue", queue_name, count=moved)
    db.session.flush()
    return moved


@contextmanager
def _answering() -> Iterator[None]:
    """Redis down is when this page is wanted most: say so instead of failing with a 500."""
    try:
        yield
    except redis.RedisError as exc:
        raise QueuesUnavailable(str(exc)) from exc


def _registry_holding(job_id: str) -> FailedJobRegistry:
    for name in PRIORITY:
        registry = queue(name).failed_job_registry
        if job_id in registry:
            return registry
    raise UnknownJob(job_id)


def _stats(q: Queue, now: datetime) -> QueueStats:
    # The head of the list is the job that has waited longest (requeues go to the end too).
    head = _fetch(q.get_job_ids(0, 1))
    oldest = head[0].enqueued_at if head and head[0] else None
    return QueueStats(
        name=q.name,
        queued=q.count,
        started=q.started_job_registry.get_job_count(cleanup=False),
        deferred=q.deferred_job_registry.get_job_count(cleanup=False),
        scheduled=q.scheduled_job_registry.get_job_count(cleanup=False),
        failed=q.failed_job_registry.get_job_count(cleanup=False),
        oldest_age=now - oldest if oldest else None,
    )


def _failed_page(q: Queue, page: int) -> FailedPage:
    registry = q.failed_job_registry
    total = registry.get_job_count(cleanup=False)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    start = (page - 1) * PAGE_SIZE
    # Scores are failure time plus RQ's one default failure TTL (no job sets its own): the
    # highest score is the newest failure, to the second.
    ids = registry.get_job_ids(start, start + PAGE_SIZE - 1, desc=True, cleanup=False)
    rows = [_failed_job(job) for job in _fetch(ids) if job is not None]
    return FailedPage(q.name, rows, total, page, pages)


def _failed_job(job: Job) -> FailedJob:
    result = job.latest_result()
    trace = ""
    if result is not None and result.type == Result.Type.FAILED:
        trace = result.exc_string or ""
    lines = [line for line in trace.splitlines() if line.strip()]
    func, args = _call(job)
    return FailedJob(
        id=job.id, func=func, args=args, ended_at=job.ended_at,
        error=lines[-1].strip() if lines else "", traceback=trace,
    )  # fmt: skip


def _call(job: Job) -> tuple[str, str]:
    """Function and arguments as text; data another client wrote may not be JSON."""
    try:
        values = [json.dumps(a, ensure_ascii=False) for a in job.args]
        values += [f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in job.kwargs.items()]
        return job.func_name or "", ", ".join(values)
    except (DeserializationError, TypeError, ValueError):
        return "?", "?"


def _workers(now: datetime) -> list[WorkerView]:
    found = Worker.all(connection=redis_connection(), serializer=JSONSerializer)
    views = []
    for worker in sorted(found, key=lambda w: w.name):
        job_id = worker.get_current_job_id()
        current = _fetch([job_id])[0] if job_id else None
        beat = worker.last_heartbeat
        views.append(
            WorkerView(
                name=worker.name, state=worker.get_state(), queues=worker.queue_names(),
                job_id=job_id, job_func=_call(current)[0] if current else None,
                heartbeat_age=now - beat if beat else None,
                successful=worker.successful_job_count, failed=worker.failed_job_count,
            )
        )  # fmt: skip
    return views


def _fetch(ids: list[str]) -> list[Job | None]:
    return Job.fetch_many(ids, connection=redis_connection(), serializer=JSONSerializer)
