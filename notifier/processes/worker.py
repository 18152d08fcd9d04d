"""The RQ worker: one process keeps its app, database pool and SMTP connection across jobs."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Sequence
from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker
from rq.exceptions import InvalidJobOperation
from rq.serializers import JSONSerializer

from notifier.delivery import liveness
from notifier.infra.extensions import db
from notifier.infra.queues import dequeue_connection, redis_connection
from notifier.infra.settings import settings_of

log = logging.getLogger(__name__)
_stopping = threading.Event()


_served: set[str] = set()


def serves(queue_name: str) -> bool:
    """Whether this worker process takes jobs from that queue."""
    return queue_name in _served


def stop_requested() -> bool:
    """True once SIGTERM or SIGINT arrived: a send job then releases the rest of its batch."""
    return _stopping.is_set()


class AppWorker(SimpleWorker):
    """Runs jobs in this process (no fork per job, ~17 ms saved) inside the app context."""

    def request_stop(self, signum: Any, frame: Any) -> None:
        # RQ waits for the running job; tell the job too, so it stops after the message on the wire.
        _stopping.set()
        super().request_stop(signum, frame)

    def unsubscribe(self) -> None:
        """RQ's, without a wait of up to a minute at a stop.

        RQ sends UNSUBSCRIBE, then stops its command-channel thread with redis-py's
        PubSubWorkerThread.stop(), which joins it without a timeout. A thread that has already
        read the UNSUBSCRIBE reply waits RQ's sleep_time (60 s) for a new subscription before it
        sees the stop, so now and then a SIGTERM took a minute: past compose's and systemd's 30 s,
        after which the worker is killed. The thread is a daemon and the process is ending: a
        second is all it gets.
        """
        thread = self.pubsub_thread
        if thread is None:
            return
        self.pubsub.unsubscribe()
        thread.stop(timeout=1)
        if not thread.is_alive():  # else it may still read the socket: the exit closes it
            self.pubsub.close()

    def handle_job_success(self, job: Any, *args: Any, **kwargs: Any) -> None:
        try:
            super().handle_job_success(job, *args, **kwargs)
        except InvalidJobOperation:
            if job.connection.hget(job.key, "status") is not None:
                raise
            # Redis lost the job's record while it ran (FLUSHDB, a restart without persistence;
            # RQ's own writes since may have left a stub without a status): RQ cannot read its
            # status to clean it up, but the work is done and recorded in the database, so this
            # is no failure (RQ would log it as one, with a traceback).
            log.info("job %s done; its record in Redis was lost meanwhile", job.id)

    def perform_job(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return super().perform_job(*args, **kwargs)
        finally:
            db.session.remove()


def run_worker(app: Flask, queue_names: Sequence[str], burst: bool = False) -> None:
    # RQ dequeues on a connection of its own (dequeue_connection): the jobs' Redis calls keep
    # their short timeout.
    connection = dequeue_connection(app)
    queues = [
        Queue(name.strip(), connection=connection, serializer=JSONSerializer)
        for name in queue_names
        if name.strip()
    ]
    _served.update(q.name for q in queues)
    worker = AppWorker(queues, connection=connection, serializer=JSONSerializer)
    # RQ's SimpleWorker does not heartbeat while a long job runs: this thread does, for each
    # claim the jobs hold, so the scheduler settles a killed worker's claims within seconds.
    liveness.start(redis_connection(app), settings_of(app).HEARTBEAT_SECONDS)
    try:
        worker.work(burst=burst, with_scheduler=False)
    finally:
        liveness.stop()


def tune_garbage_collector() -> None:
    """For a worker process, once after start-up (it changes the whole interpreter): the send
    loop makes a few dozen short-lived objects a message and no reference cycles worth chasing,
    so collect the youngest generation ten times less often, and never again scan what start-up
    loaded (the app, SQLAlchemy's mappers, the templates)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 10, 10)
