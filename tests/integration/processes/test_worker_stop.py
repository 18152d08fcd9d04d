"""A worker told to stop does not wait for its RQ command channel: SIGTERM within 30 s."""

from __future__ import annotations

import time

import redis
from rq import Queue

from notifier.processes.worker import AppWorker


def test_stopping_returns_at_once_when_the_channel_thread_already_read_the_unsubscribe(
    redis_url: str,
) -> None:
    connection = redis.Redis.from_url(redis_url)
    worker = AppWorker([Queue("stop-test", connection=connection)], connection=connection)
    worker.subscribe()
    deadline = time.monotonic() + 10
    while not worker.pubsub.subscribed:
        assert time.monotonic() < deadline, "the command channel never subscribed"
        time.sleep(0.05)
    # The state a stop races into: the thread has read the UNSUBSCRIBE reply and now waits up
    # to RQ's sleep_time (60 s) for a new subscription. redis-py joined it without a timeout.
    worker.pubsub.unsubscribe()
    time.sleep(0.5)
    started = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - started < 5
