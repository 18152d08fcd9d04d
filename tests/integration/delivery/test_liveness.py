"""Dead workers are noticed by their missing heartbeat, not at lease expiry; Redis losing its
data never makes a live worker look dead.

Real `notifier worker` and `notifier scheduler` processes (the scheduler at its default round
of 5 s), a real SMTP sink, the test's database and Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from bench.seed import seed_contacts
from bench.sinks import BuiltinSink
from notifier.delivery import liveness
from notifier.infra.extensions import db
from notifier.infra.queues import redis_connection
from notifier.models import Campaign, CampaignStatus
from tests.conftest import configure
from tests.integration.helpers import start_campaign
from tests.integration.processes.test_faults import assert_exactly_once
from tests.integration.workers import worker_env

NOTIFIER = str(Path(os.sys.executable).with_name("notifier"))  # type: ignore[attr-defined]


@pytest.fixture
def sink(app: Flask) -> Iterator[BuiltinSink]:
    server = BuiltinSink()
    server.start()
    # One claim holds the whole campaign and the lease is a minute: without heartbeats nobody
    # could resume a killed worker's batch before a minute is over.
    configure(
        app,
        SMTP_URL=f"smtp://127.0.0.1:{server.port}",
        CLAIM_LEASE_SECONDS=60,
        BATCH_SIZE=5000,
        SEND_JOBS=1,
    )
    yield server
    server.stop()


def spawn(app: Flask, tmp_path: Path, *command: str) -> subprocess.Popen:
    env = worker_env(app, tmp_path, CLAIM_LEASE_SECONDS="60", BATCH_SIZE="5000", SEND_JOBS="1")
    log = (tmp_path / f"{command[0]}-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen([NOTIFIER, *command], env=env, stdout=log, stderr=subprocess.STDOUT)


def logs(tmp_path: Path) -> str:
    """The processes' last words, for a failure's message."""
    return "\n".join(
        f"== {path.name}\n" + path.read_text(errors="replace")[-3000:]
        for path in sorted(tmp_path.glob("*.log"))
    )


def campaign_done(campaign_id: int) -> bool:
    db.session.remove()
    campaign = db.session.get(Campaign, campaign_id)
    return campaign is not None and campaign.status == CampaignStatus.DONE


@pytest.mark.slow
def test_a_killed_workers_campaign_resumes_within_15_seconds(
    app: Flask, sink: BuiltinSink, tmp_path: Path
) -> None:
    eligible = seed_contacts(1500, "promotions")
    scheduler = spawn(app, tmp_path, "scheduler")
    first = spawn(app, tmp_path, "worker")
    processes = [scheduler, first]
    try:
        time.sleep(2)  # the scheduler's first round: it starts trusting heartbeats from here
        campaign_id = start_campaign("promotion", "promotions")
        deadline = time.monotonic() + 60
        while sink.messages < 100 and time.monotonic() < deadline:
            time.sleep(0.002)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at, sent_before = time.monotonic(), sink.messages
        assert 100 <= sent_before < len(eligible), "the kill must land mid-batch"
        processes.append(spawn(app, tmp_path, "worker"))
        while sink.messages == sent_before and time.monotonic() - killed_at < 30:
            time.sleep(0.05)
        resumed = time.monotonic() - killed_at
        assert resumed < 15, f"resumed {resumed:.1f} s after the kill\n{logs(tmp_path)}"
        while not campaign_done(campaign_id) and time.monotonic() - killed_at < 60:
            time.sleep(0.2)
    finally:
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
    assert campaign_done(campaign_id)
    assert_exactly_once(campaign_id, sink, eligible, kills=1)


def test_heartbeats_are_trusted_only_once_redis_kept_its_data_for_a_period(app: Flask) -> None:
    configure(app, HEARTBEAT_SECONDS=0.2)  # grace 0.6 s, trusted 0.8 s after Redis is seen
    conn = redis_connection()
    conn.set(liveness.owned_key("live"), "w", ex=60)
    conn.set(liveness.alive_key("live"), "w", ex=60)
    conn.set(liveness.owned_key("dead"), "w", ex=60)  # its alive key expired: the worker died
    tokens = ["live", "dead", "unannounced"]

    assert liveness.dead_claims(conn, tokens) == set(), "the first look only starts the clock"
    time.sleep(0.9)
    assert liveness.dead_claims(conn, tokens) == {"dead"}

    # FLUSHDB: every key is gone, then a backup's keys come back without their alive keys
    # (a restore, or workers that have not beaten yet): nobody may be judged for a period.
    conn.flushdb()
    conn.set(liveness.owned_key("live"), "w", ex=60)
    assert liveness.dead_claims(conn, tokens) == set()
    time.sleep(0.3)
    assert liveness.dead_claims(conn, tokens) == set()
    conn.set(liveness.alive_key("live"), "w", ex=60)  # the live worker beats again
    time.sleep(0.6)
    # Trusted again, and "dead" is no longer known to be dead (its owner key went with the
    # flush): its claim waits for its lease.
    assert liveness.dead_claims(conn, tokens) == set()

    # A restart of Redis from an old snapshot: the same keys, another server run.
    conn.set(liveness.EPOCH, "another-run|0")
    conn.delete(liveness.alive_key("live"))
    assert liveness.dead_claims(conn, tokens) == set()


def test_redis_unreachable_means_lease_expiry_only(app: Flask) -> None:
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    assert liveness.dead_claims(gone, ["a"]) == set()
