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

from notifier.infra.redis_conn import REDIS_FAULTS, connect
from notifier.infra.settings import settings_of
from notifier.infra.unit_of_work import after_commit

# Workers listen in this order: transactional notices first, then planning, then batches.
NOTICES, CAMPAIGNS, SEND = "notices", "campaigns", "send"
PRIORITY = (NOTICES, CAMPAIGNS, SEND)
log = logging.getLogger(__name__)


def redis_connection(app: Flask | None = None) -> redis.Redis:
    app = app or current_app
    conn = app.extensions.get("notifier.redis")
    if conn is None:
        conn = connect(settings_of(app).REDIS_URL or None, Path(app.instance_path))
        app.extensions["notifier.redis"] = conn
    return conn


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
