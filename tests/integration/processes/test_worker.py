"""The worker process: what RQ says about a job whose record Redis lost while it ran."""

from __future__ import annotations

import logging

from flask import Flask

from notifier.infra.queues import NOTICES, queue, redis_connection
from tests.integration.helpers import drain

done: list[str] = []


def flush_redis_mid_job() -> str:
    """A job that does its work while Redis loses every key (FLUSHDB, or a restart)."""
    redis_connection().flushdb()
    done.append("work")
    return "done"


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_job_done_while_redis_was_flushed_is_not_logged_as_failed(app: Flask) -> None:
    queue(NOTICES).enqueue(f"{__name__}.flush_redis_mid_job", result_ttl=0)
    errors = Errors()
    rq_log = logging.getLogger("rq.worker")
    rq_log.disabled = False  # Alembic's fileConfig disables existing loggers
    rq_log.addHandler(errors)
    try:
        drain(app)
    finally:
        rq_log.removeHandler(errors)
    assert done == ["work"]
    assert [r.getMessage() for r in errors.records] == [], "work that was done logged as an error"
