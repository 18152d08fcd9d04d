"""RQ queues by priority, and enqueueing that happens only after the unit of work commits."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import redis
from flask import Flask, current_app
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy.orm import Session

from notifier.infra.redis_conn import REDIS_FAULTS, connect, embedded_server, socket_url
from notifier.infra.settings import settings_of
from notifier.infra.unit_of_work import after_commit

# Workers listen in this order: transactional notices first, then planning, then batches.
NOTICES, CAMPAIGNS, SEND = "notices", "campaigns", "send"
PRIORITY = (NOTICES, CAMPAIGNS, SEND)
log = logging.getLogger(__name__)


def redis_connection(app: Flask | None = None) -> redis.Redis:
    """The process's Redis client, for every call but RQ's blocking dequeue (`dequeue_connection`).

    Each call fails after `redis_timeout`: the send path's journal, heartbeats and enqueues
    run while a claim is held, and a Redis that stops answering must cost the worker its
    batch (written to the database, the rest released), not hang it past its lease."""
    app = app or current_app
    conn = app.extensions.get("notifier.redis")
    if conn is None:
        settings = settings_of(app)
        conn = connect(settings.REDIS_URL or None, Path(app.instance_path), redis_timeout(app))
        app.extensions["notifier.redis"] = conn
    return conn


def redis_timeout(app: Flask | None = None) -> float:
    """REDIS_TIMEOUT_SECONDS, at most a third of the claim lease (as for an SMTP exchange): a
    worker whose Redis stalls gives up its batch well before the recovery may settle it."""
    settings = settings_of(app or current_app)
    return min(settings.REDIS_TIMEOUT_SECONDS, settings.CLAIM_LEASE_SECONDS / 3)


def dequeue_connection(app: Flask) -> redis.Redis:
    """A connection of RQ's own: a worker waits on it in BLPOP for minutes, and RQ raises the
    socket timeout of whatever connection it is given to cover that wait. Given the send
    path's connection, RQ would lift the send path's timeout with it."""
    url = settings_of(app).REDIS_URL or socket_url(embedded_server(Path(app.instance_path)))
    return redis.Redis.from_url(url)


def queue(name: str, app: Flask | None = None) -> Queue:
    return Queue(name, connection=redis_connection(app), serializer=JSONSerializer)


def enqueue_after_commit(session: Session, queue_name: str, func: str, *args: Any) -> None:
    """Enqueue once the session's unit of work has committed; a rollback drops the job.

    Jobs name workers' functions by dotted path: notifier never imports workers."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    after_commit(functools.partial(_enqueue, app, queue_name, func, args), session)


def _enqueue(app: Flask, queue_name: str, func: str, args: tuple[Any, ...]) -> None:
    try:
        queue(queue_name, app).enqueue(func, *args, job_timeout=600, result_ttl=0)
    except REDIS_FAULTS as exc:
        # The commit stands, and every kind of job is found again from the database by the
        # scheduler's rounds: a Redis failure here must not turn done work into an error.
        log.warning("job %s not enqueued, left to the scheduler: %r", func, exc)
