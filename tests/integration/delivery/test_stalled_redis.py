"""A Redis that stops answering mid-batch (its host froze: SIGSTOP) costs the send job that
batch, not a timeout per Redis call for batch after batch.

Each Redis call fails after REDIS_TIMEOUT_SECONDS. A reset connection is worth another try with
a fresh one (tests/integration/delivery/test_fencing.py), but a stalled server times out the
next call too: before the job ended after the batch, it claimed the next batch, waited for the
timeouts of its heartbeat, its latency metric and its new journal, and only then gave the batch
back, so the rows stayed claimed for several timeouts while Redis was frozen (the chaos suite's
stalled-Redis scenario caught it once in ten runs). A real redis-server of the test's own, real
database and SMTP server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from notifier.campaigns import lifecycle as campaigns
from notifier.infra.extensions import db
from notifier.models import DeliveryStatus
from tests.chaos.harness import RedisServer
from tests.conftest import configure
from tests.integration.delivery.test_fencing import Warnings, arrived, ledger, planned
from tests.integration.helpers import committed
from tests.smtp_server import SmtpTestServer

TIMEOUT = 0.5  # REDIS_TIMEOUT_SECONDS: each call to the frozen server fails after this


@pytest.fixture
def own_redis(app: Flask, tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    configure(app, REDIS_URL=server.url, REDIS_TIMEOUT_SECONDS=TIMEOUT, BATCH_SIZE=100)
    app.extensions.pop("notifier.redis", None)  # the client is made once, for the old URL
    yield server
    server.resume()
    server.stop()


def test_a_redis_that_stops_answering_mid_batch_ends_the_job_after_that_batch(
    app: Flask, smtp: SmtpTestServer, own_redis: RedisServer
) -> None:
    campaign_id, eligible = planned(400)  # four batches of 100
    calls = 0
    thaw = threading.Timer(10 * TIMEOUT, own_redis.resume)  # frozen longer than the whole job

    def freeze_redis() -> bool:
        nonlocal calls
        calls += 1
        if calls == 30:
            own_redis.pause()
            thaw.start()
        return False

    began = time.monotonic()
    with Warnings() as caplog, committed():
        campaigns.run_send_job(campaign_id, should_stop=freeze_redis)
    took = time.monotonic() - began
    thaw.cancel()  # the fixture resumes it
    db.session.expire_all()

    # One journal lost its Redis, the first batch's: no further batch was claimed meanwhile.
    assert caplog.text.count("lost its Redis") == 1, caplog.text
    assert "latencies not recorded" not in caplog.text
    rows = ledger(campaign_id)
    sent = rows[DeliveryStatus.SENT]
    assert 0 < sent <= 100 and rows[DeliveryStatus.PENDING] == len(eligible) - sent, rows
    assert set(rows) == {DeliveryStatus.SENT, DeliveryStatus.PENDING}, rows
    counts = arrived(smtp)
    assert set(counts.values()) == {1} and counts.total() == sent, counts
    # The batch ended within a few timeouts, while Redis was still frozen.
    assert took < 8 * TIMEOUT, took
