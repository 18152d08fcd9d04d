"""RQ queues by priority, and enqueueing that happens only after the database commit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import redis
from flask import Flask, current_app
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import event
from sqlalchemy.orm import Session

from notifier.infra.redis_conn import REDIS_FAULTS, connect
from notifier.infra.settings import settings_of

# Workers listen in this order: transactional notices first, then planning, then batches.
NOTICES, CAMPAIGNS, SEND = "notices", "campaigns", "send"
PRIORITY = (NOTICES, CAMPAIGNS, SEND)
_PENDING = "notifier.pending_jobs"
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
    """Jobs name workers' functions by dotted path: notifier never imports workers."""
    session.info.setdefault(_PENDING, []).append((queue_name, func, args))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for queue_name, func, args in pending:
        try:
            queue(queue_name).enqueue(func, *args, job_timeout=600, result_ttl=0)
        except REDIS_FAULTS as exc:
            # The commit stands, and every kind of job is found again from the database by the
            # scheduler's rounds: a Redis failure here must not turn done work into an error.
            log.warning("%d jobs not enqueued, left to the scheduler: %r", len(pending), exc)
            return


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
