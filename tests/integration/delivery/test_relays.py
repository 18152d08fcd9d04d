"""Several relays end to end: three real SMTP servers, real `notifier worker` and `scheduler`
processes (or an in-process worker for pinned mail), counted at the servers and in the ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from bench.seed import seed_contacts
from notifier.delivery import relays, system_mail
from notifier.infra.extensions import db
from notifier.infra.queues import redis_connection
from notifier.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    SystemMailKind,
    utcnow,
)
from notifier.notices import notices
from tests.chaos.harness import RedisServer
from tests.conftest import configure
from tests.integration.delivery.test_backoff import run_campaign
from tests.integration.helpers import (
    committed,
    drain,
    layout_template,
    make_contact,
    sample_data,
    start_campaign,
)
from tests.integration.processes.test_faults import ledger
from tests.integration.workers import worker_env
from tests.smtp_server import SmtpTestServer

pytestmark = pytest.mark.slow
NOTIFIER = str(Path(os.sys.executable).with_name("notifier"))  # type: ignore[attr-defined]
BATCH = 10


@pytest.fixture
def servers() -> Iterator[dict[str, SmtpTestServer]]:
    started = {name: SmtpTestServer() for name in ("a", "b", "c")}
    for server in started.values():
        server.start()
    yield started
    for server in started.values():
        server.stop()


def relay(name: str, server: SmtpTestServer, **fields: object) -> dict:
    return {"name": name, "url": server.url, **fields}


def clean_redis(app: Flask) -> None:
    with app.app_context():
        conn = redis_connection()
        for pattern in (relays.PREFIX + "*", relays.SENT_KEY, relays.DEFERRED_KEY):
            for key in conn.scan_iter(pattern):
                conn.delete(key)


def start_processes(app: Flask, tmp_path: Path, specs: list[dict], **extra: str) -> list:
    env = worker_env(
        app,
        tmp_path,
        RELAYS=json.dumps(specs),
        BATCH_SIZE=str(BATCH),
        RELAY_PROBE_SECONDS="1",
        **extra,
    )
    return [
        subprocess.Popen([NOTIFIER, *command], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for command in (["scheduler"], ["worker"], ["worker"])
    ]  # fmt: skip


def stop(processes: list) -> None:
    for process in processes:
        process.send_signal(signal.SIGKILL)
        process.wait(10)


def received(servers: dict[str, SmtpTestServer], since: int = 0) -> Counter[str]:
    """Each recipient's messages, over all the servers."""
    return Counter(
        rcpt for server in servers.values() for m in server.messages[since:] for rcpt in m.rcpt_tos
    )


def deferred_metric(app: Flask) -> dict[str, int]:
    with app.app_context():
        raw = redis_connection().hgetall(relays.DEFERRED_KEY)
    return {key.decode(): int(value) for key, value in raw.items()}


def assert_sent_once_without_attempts(
    campaign_id: int, eligible: set[str], servers: dict[str, SmtpTestServer]
) -> None:
    assert ledger(campaign_id) == {DeliveryStatus.SENT: eligible}
    assert received(servers) == dict.fromkeys(eligible, 1)
    # Throttled and relay-down rows were deferred, never counted as an attempt.
    assert db.session.scalar(select(func.max(Delivery.attempts))) == 0


def test_weights_and_failover_from_a_refusing_relay_then_its_probe(
    app: Flask, servers: dict[str, SmtpTestServer], tmp_path: Path
) -> None:
    clean_redis(app)
    eligible = seed_contacts(600, "promotions")
    a, b, c = servers["a"], servers["b"], servers["c"]
    c.stop()  # refuses connections: its port is closed
    specs = [relay("a", a, weight=3), relay("b", b, weight=1), relay("c", c, weight=2)]
    processes = start_processes(app, tmp_path, specs)
    try:
        campaign_id, took = run_campaign(120)
        assert_sent_once_without_attempts(campaign_id, eligible, servers)
        share = len(a.messages) / len(eligible)
        # 60 batches of 10 drawn 3:1 between the two that answer: 75 % expected.
        assert 0.5 < share < 0.95, (len(a.messages), len(b.messages))
        assert deferred_metric(app).get("relay_down:c", 0) >= 1  # c was drawn, and failed over
        # c comes back on its port: once its probe interval is over, a batch drawn to it is
        # the probe, and it carries mail again.
        c.start()
        time.sleep(1.5)
        before = {name: len(server.messages) for name, server in servers.items()}
        run_campaign(120)
        assert len(c.messages) - before["c"] > 0
    finally:
        stop(processes)
    assert took < 60


def arrivals_per_second(server: SmtpTestServer) -> int:
    """The most messages the server accepted within any one second."""
    times = sorted(m.received_at for m in server.messages)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_per_second_limits_hold_across_two_workers_and_throttled_rows_wait(
    app: Flask, servers: dict[str, SmtpTestServer], tmp_path: Path
) -> None:
    clean_redis(app)
    eligible = seed_contacts(480, "promotions")
    a, b = servers["a"], servers["b"]
    specs = [relay("a", a, per_second=30), relay("b", b, per_second=30)]
    processes = start_processes(app, tmp_path, specs)
    try:
        campaign_id, took = run_campaign(120)
    finally:
        stop(processes)
    assert_sent_once_without_attempts(campaign_id, eligible, servers)
    # 60 a second in all: the first second's 60, then the rest at 60 a second.
    assert took >= (len(eligible) - 60) / 60 * 0.95
    for server in (a, b):
        # A batch's messages leave after its take: each worker's batch may land in the next
        # second (the takes themselves never pass 30 in any second: test_relay_windows.py).
        assert arrivals_per_second(server) <= 30 + 2 * BATCH, arrivals_per_second(server)
    assert sum(v for k, v in deferred_metric(app).items() if k.startswith("throttled:")) > 0


def a_third_at_gmail(number: int) -> str:
    return "gmail.com" if number % 3 == 0 else "bench.example.com"


def gmail_arrivals_within(servers: dict[str, SmtpTestServer], seconds: float) -> int:
    """The most gmail.com messages the servers together accepted within `seconds`."""
    times = sorted(
        m.received_at
        for server in servers.values()
        for m in server.messages
        if m.rcpt_tos[0].endswith("@gmail.com")
    )
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_a_domain_groups_limit_holds_across_two_workers_and_two_relays(
    app: Flask, servers: dict[str, SmtpTestServer], tmp_path: Path
) -> None:
    clean_redis(app)
    eligible = seed_contacts(600, "promotions", domain=a_third_at_gmail)
    gmail = {address for address in eligible if address.endswith("@gmail.com")}
    specs = [relay("a", servers["a"], per_second=100), relay("b", servers["b"], per_second=100)]
    groups = json.dumps([{"name": "gmail", "per_second": 10}])
    processes = start_processes(app, tmp_path, specs, RELAY_GROUPS=groups)
    try:
        campaign_id, took = run_campaign(120)
    finally:
        stop(processes)
    assert_sent_once_without_attempts(campaign_id, eligible, servers)
    # Gmail's 10 a second over both relays and both workers: the campaign waits for gmail.
    assert took >= (len(gmail) - 10) / 10 * 0.95
    # Over any 5 s at the servers: 50, and a batch of each worker that may land late.
    assert gmail_arrivals_within(servers, 5.0) <= 50 + 2 * BATCH
    assert deferred_metric(app).get("group:gmail", 0) > 0


def test_a_redis_restart_mid_campaign_sends_nobody_twice(
    app: Flask, servers: dict[str, SmtpTestServer], tmp_path: Path
) -> None:
    """The windows live in Redis, the ledger in the database: a Redis that restarts empty
    lets the windows start over (one window's burst at most), never a second message. The
    same holds for a domain group's window and connection slots."""
    eligible = seed_contacts(400, "promotions", domain=a_third_at_gmail)
    own = RedisServer(tmp_path)
    own.start()
    a, b = servers["a"], servers["b"]
    specs = [relay("a", a, per_second=40), relay("b", b, per_second=40)]
    groups = json.dumps([{"name": "gmail", "per_second": 20, "max_connections": 1}])
    try:
        configure(app, REDIS_URL=own.url)
        processes = start_processes(app, tmp_path, specs, RELAY_GROUPS=groups)
        try:
            started = time.monotonic()
            campaign_id = start_campaign("promotion", "promotions")
            while len(received(servers)) < 120 and time.monotonic() - started < 60:
                time.sleep(0.05)
            own.restart()
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                db.session.remove()
                campaign = db.session.get(Campaign, campaign_id)
                if campaign is not None and campaign.status == CampaignStatus.DONE:
                    break
                time.sleep(0.2)
        finally:
            stop(processes)
        assert received(servers) == dict.fromkeys(eligible, 1)
        assert ledger(campaign_id) == {DeliveryStatus.SENT: eligible}
    finally:
        own.stop()


def test_notices_and_system_mail_go_through_their_pinned_relay_only(
    app: Flask, servers: dict[str, SmtpTestServer]
) -> None:
    clean_redis(app)
    a, b, tx = servers["a"], servers["b"], servers["c"]
    specs = [
        relay("a", a),
        relay("b", b),
        relay("tx", tx, weight=0, pinned=["notice", "system"]),
    ]
    configure(app, RELAYS=json.dumps(specs))
    notices.define_notice_type(
        "renewal", "Gia hạn", "renewal", layout_template("renewal", "renewal")
    )
    people = [
        make_contact(f"renewal{n}@notices.example.org", name=f"Công ty {n}") for n in range(3)
    ]
    db.session.commit()
    for number, person in enumerate(people):
        body = sample_data("renewal")
        with committed():
            notices.trigger(
                "renewal", person, body, f"pin-{number}", notices.request_fingerprint(body)
            )
    with committed():
        data = {"link": "https://notifier.test/p/pin", "received_at": utcnow().isoformat()}
        system_mail.queue_mail(
            SystemMailKind.PREFERENCES_LINK, "someone@pages.example.org", "vi", data
        )
    drain(app)
    assert (len(a.messages), len(b.messages)) == (0, 0)
    assert sorted(r for m in tx.messages for r in m.rcpt_tos) == [
        *(f"renewal{n}@notices.example.org" for n in range(3)),
        "someone@pages.example.org",
    ]
    # Its relay down and no fallback named: pinned mail waits for it, never goes elsewhere.
    tx.stop()
    with committed():
        system_mail.queue_mail(
            SystemMailKind.PREFERENCES_LINK, "later@pages.example.org", "vi", data
        )
    drain(app)
    assert (len(a.messages), len(b.messages)) == (0, 0)
