"""Faults mid-campaign: kill -9, SIGTERM, Redis flushed: nobody twice, lost, or refused."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy.exc import OperationalError

from bench.seed import seed_contacts
from bench.sinks import BuiltinSink
from notifier.campaigns import lifecycle as campaigns
from notifier.infra.extensions import db
from notifier.infra.settings import settings_of
from notifier.models import Campaign, CampaignStatus, Contact, Delivery, DeliveryStatus, utcnow
from notifier.processes.scheduler import tick
from tests.conftest import configure
from tests.integration.helpers import start_campaign
from tests.integration.workers import worker_env

pytestmark = pytest.mark.slow
CONTACTS = 1500  # 1,050 of them may receive the campaign (bench.seed's mix)


@pytest.fixture
def sink(app: Flask) -> Iterator[BuiltinSink]:
    server = BuiltinSink()
    server.start()
    configure(app, SMTP_URL=f"smtp://127.0.0.1:{server.port}", CLAIM_LEASE_SECONDS=3)
    yield server
    server.stop()


class Workers:
    """Long-running `notifier worker` processes that a test can kill and replace."""

    def __init__(self, app: Flask, tmp_path: Path) -> None:
        self.env = worker_env(app, tmp_path, BATCH_SIZE="40")
        self.notifier = str(Path(os.sys.executable).with_name("notifier"))  # type: ignore[attr-defined]
        self.running: list[subprocess.Popen] = []

    def start(self, count: int = 1) -> None:
        for _ in range(count):
            self.running.append(
                subprocess.Popen(
                    [self.notifier, "worker"],
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def kill_one(self) -> None:
        victim = self.running.pop(random.randrange(len(self.running)))
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)

    def stop_all(self) -> list[int]:
        for process in self.running:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(30) for process in self.running]
        self.running = []
        return codes


def run_until_done(campaign_id: int, during: Callable[[], None], timeout: float = 180) -> None:
    """The scheduler's rounds in this process, as `notifier scheduler` would run them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        during()
        tick(utcnow())
        try:
            campaign = db.session.get(Campaign, campaign_id)
        except OperationalError:  # the database is restarting: ask again next round
            db.session.rollback()
            campaign = None
        if campaign is not None and campaign.status == CampaignStatus.DONE:
            return
        db.session.remove()
        time.sleep(0.5)
    raise AssertionError(f"campaign not done in {timeout} s: {campaigns.counters(campaign_id)}")


def ledger(campaign_id: int) -> dict[str, set[str]]:
    rows = db.session.execute(
        db.select(Delivery.status, Contact.email)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id)
    )
    by_status: dict[str, set[str]] = {}
    for status, address in rows:
        by_status.setdefault(status, set()).add(address)
    return by_status


def assert_exactly_once(
    campaign_id: int, sink: BuiltinSink, eligible: set[str], kills: int
) -> None:
    rows = ledger(campaign_id)
    sent, unknown = rows.get(DeliveryStatus.SENT, set()), rows.get(DeliveryStatus.UNKNOWN, set())
    assert set(rows) <= {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN}, rows.keys()
    assert sent | unknown == eligible  # no silent loss
    assert len(unknown) <= kills  # at most the message on the wire per kill
    assert max(sink.recipients.values()) == 1  # no duplicates
    assert set(sink.recipients) <= eligible  # nobody without consent
    assert sent <= set(sink.recipients)  # every "sent" really arrived
    assert set(sink.recipients) - sent <= unknown  # what arrived unrecorded is marked unknown
    # Invariant 1 through the recovery too: each row that went out, or may have, names the
    # consent event that authorised it.
    unproven = db.session.scalar(
        db.select(db.func.count()).where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.UNKNOWN)),
            Delivery.consent_event_id.is_(None),
        )
    )
    assert unproven == 0


def test_kill_9_at_random_points_then_restart(
    app: Flask, sink: BuiltinSink, tmp_path: Path
) -> None:
    eligible = seed_contacts(CONTACTS, "promotions")
    campaign_id = start_campaign("promotion", "promotions")
    workers = Workers(app, tmp_path)
    workers.start(2)
    kill_at = sorted(random.sample(range(100, len(eligible) * 2 // 3), 3))
    kills: list[int] = []
    done = threading.Event()

    def killer() -> None:
        # Watches the relay closely: the campaign is fast, the scheduler's rounds are not.
        for threshold in kill_at:
            while sink.messages < threshold:
                if done.wait(0.005):
                    return
            workers.kill_one()
            kills.append(sink.messages)
            workers.start()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        run_until_done(campaign_id, lambda: None)
    finally:
        done.set()
        thread.join(30)
        workers.stop_all()
    assert len(kills) == 3, kills
    assert_exactly_once(campaign_id, sink, eligible, kills=3)


def test_sigterm_finishes_the_message_on_the_wire_and_releases_the_rest(
    app: Flask, sink: BuiltinSink, tmp_path: Path
) -> None:
    eligible = seed_contacts(CONTACTS, "promotions")
    campaign_id = start_campaign("promotion", "promotions")
    workers = Workers(app, tmp_path)
    workers.start()
    deadline = time.monotonic() + 60
    while sink.messages < 200 and time.monotonic() < deadline:
        tick(utcnow())
        time.sleep(0.1)
    assert workers.stop_all() == [0]
    rows = ledger(campaign_id)
    assert DeliveryStatus.CLAIMED not in rows and DeliveryStatus.UNKNOWN not in rows
    assert rows[DeliveryStatus.SENT] == set(sink.recipients)
    assert rows.get(DeliveryStatus.PENDING)  # released, not lost

    workers.start()
    try:
        run_until_done(campaign_id, lambda: None)
    finally:
        workers.stop_all()
    assert_exactly_once(campaign_id, sink, eligible, kills=0)


def test_redis_flushed_mid_campaign_loses_nothing(
    app: Flask, sink: BuiltinSink, tmp_path: Path
) -> None:
    eligible = seed_contacts(CONTACTS, "promotions")
    campaign_id = start_campaign("promotion", "promotions")
    workers = Workers(app, tmp_path)
    workers.start(2)
    flushed = []

    def flush_once() -> None:
        if not flushed and sink.messages >= 300:
            redis.Redis.from_url(settings_of(app).REDIS_URL).flushdb()
            flushed.append(time.monotonic())

    try:
        run_until_done(campaign_id, flush_once)
    finally:
        workers.stop_all()
    assert flushed
    assert_exactly_once(campaign_id, sink, eligible, kills=0)


def test_a_flaky_relay_gets_everything_exactly_once(app: Flask, sink: BuiltinSink) -> None:
    from tests.integration.helpers import drain

    sink.fault_rate = 0.1  # 451 or 421-and-hang-up to a tenth of MAIL, RCPT and DATA commands
    configure(app, SMTP_RETRY_SECONDS=0.05, SEND_RETRY_LIMIT=25, BATCH_SIZE=50)
    eligible = seed_contacts(600, "promotions")
    campaign_id = start_campaign("promotion", "promotions")

    def work() -> None:
        drain(app)

    run_until_done(campaign_id, work, timeout=120)
    assert ledger(campaign_id) == {DeliveryStatus.SENT: eligible}
    assert sink.recipients == dict.fromkeys(eligible, 1)


def test_a_permanent_refusal_is_recorded_with_its_code(app: Flask, sink: BuiltinSink) -> None:
    from tests.integration.helpers import drain, make_contact

    refused = make_contact("nobody@example.com", ("promotions",))
    sink.rcpt_replies["nobody@example.com"] = b"550 5.1.1 user unknown\r\n"
    campaign_id = start_campaign("promotion", "promotions")
    run_until_done(campaign_id, lambda: drain(app), timeout=60)
    row = db.session.scalar(db.select(Delivery).where(Delivery.contact_id == refused))
    assert row is not None and (row.status, row.smtp_code) == ("failed", 550)


RESTART_PG = os.environ.get("NOTIFIER_FAULT_RESTART_PG") == "1"


@pytest.mark.alone  # every other test's PostgreSQL connections die with the restart
@pytest.mark.skipif(
    not (RESTART_PG and os.environ.get("DATABASE_URL", "").startswith("postgres")),
    reason="restarts the machine's PostgreSQL: set NOTIFIER_FAULT_RESTART_PG=1 (.ci/run does)",
)
def test_postgresql_restarted_mid_campaign(app: Flask, sink: BuiltinSink, tmp_path: Path) -> None:
    eligible = seed_contacts(CONTACTS, "promotions")
    campaign_id = start_campaign("promotion", "promotions")
    workers = Workers(app, tmp_path)
    workers.start(2)
    restarted = []

    def restart_once() -> None:
        if not restarted and sink.messages >= 300:
            version = sorted(os.listdir("/etc/postgresql"))[-1]
            subprocess.run(["pg_ctlcluster", version, "main", "restart"], check=True, timeout=60)
            restarted.append(sink.messages)

    try:
        run_until_done(campaign_id, restart_once, timeout=240)
    finally:
        workers.stop_all()
    assert restarted
    assert_exactly_once(campaign_id, sink, eligible, kills=2)
