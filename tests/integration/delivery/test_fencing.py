"""Exactly once when a worker outlives its lease or loses the journal's Redis mid-batch.

Both attacks run the real send job against a real SMTP server, database and Redis; the fault is
injected between two messages through the job's own stop hook (the one SIGTERM uses).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import redis
from flask import Flask

from bench.seed import seed_contacts
from notifier.campaigns import lifecycle as campaigns
from notifier.delivery.recovery import recover_claims
from notifier.infra.extensions import db
from notifier.infra.queues import redis_connection
from notifier.models import Delivery, DeliveryStatus, utcnow
from tests.conftest import configure
from tests.integration.helpers import start_campaign
from tests.smtp_server import SmtpTestServer
from workers import jobs


def planned(count: int) -> tuple[int, set[str]]:
    eligible = seed_contacts(count, "promotions")
    campaign_id = start_campaign("promotion", "promotions")
    jobs.plan_campaign(campaign_id)
    db.session.commit()
    return campaign_id, eligible


def ledger(campaign_id: int) -> Counter[str]:
    return Counter(
        db.session.scalars(db.select(Delivery.status).where(Delivery.campaign_id == campaign_id))
    )


def arrived(server: SmtpTestServer) -> Counter[str]:
    return Counter(rcpt for message in server.messages for rcpt in message.rcpt_tos)


class Warnings(logging.Handler):
    """What the send path warned about (the app's logging setup replaces pytest's handlers)."""

    def __init__(self, logger: str = "notifier.delivery.sending") -> None:
        super().__init__(logging.WARNING)
        self.text = ""
        self.logger = logging.getLogger(logger)

    def emit(self, record: logging.LogRecord) -> None:
        self.text += record.getMessage() + "\n"

    def __enter__(self) -> Warnings:
        # Alembic's fileConfig (the test database's migrations) disables existing loggers.
        self.logger.disabled = False
        self.logger.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        self.logger.removeHandler(self)


def in_another_worker(app: Flask, work: object) -> None:
    """The scheduler or a second worker: its own thread, app context and database session."""

    failed: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                work()  # type: ignore[operator]
            except BaseException as exc:  # re-raised in the test's thread
                failed.append(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if failed:
        raise failed[0]


def test_a_worker_that_outlived_its_lease_sends_nothing_the_recovery_gave_away(
    app: Flask, smtp: SmtpTestServer
) -> None:
    configure(app, CLAIM_LEASE_SECONDS=1, BATCH_SIZE=100)
    campaign_id, eligible = planned(160)
    calls = 0

    def stall_then_lose_the_claim() -> bool:
        nonlocal calls
        calls += 1
        if calls == 30:
            time.sleep(1.5)  # frozen longer than the lease (swapped out, a stalled relay)

            def scheduler_then_new_worker() -> None:
                assert recover_claims(utcnow()) > 0
                campaigns.run_send_job(campaign_id)  # sends what the recovery gave back

            in_another_worker(app, scheduler_then_new_worker)
        return False

    with Warnings() as caplog:
        campaigns.run_send_job(campaign_id, should_stop=stall_then_lose_the_claim)
    db.session.expire_all()
    counts = arrived(smtp)
    assert counts and max(counts.values()) == 1, "a row was sent by the late worker and again"
    rows = ledger(campaign_id)
    assert set(rows) <= {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN}, rows
    assert rows[DeliveryStatus.SENT] + rows[DeliveryStatus.UNKNOWN] == len(eligible)
    assert rows[DeliveryStatus.UNKNOWN] <= 1
    assert set(counts) <= eligible
    assert "taken over by the recovery" in caplog.text


def test_journal_redis_reset_mid_batch_loses_no_outcome(app: Flask, smtp: SmtpTestServer) -> None:
    configure(app, BATCH_SIZE=200)
    campaign_id, eligible = planned(300)
    calls = 0

    def reset_redis_connections() -> bool:
        nonlocal calls
        calls += 1
        if calls in (40, 250):
            # Every client of this test's database but this one: the journal's socket dies under
            # it, data is kept. Clients of other databases (other test runs) are left alone.
            kill_clients_of_own_database(redis_connection())
        return False

    with Warnings() as caplog:
        campaigns.run_send_job(campaign_id, should_stop=reset_redis_connections)
    db.session.expire_all()
    assert "lost its Redis" in caplog.text  # the fault did hit the journal
    # Nothing waits for a recovery: every outcome the worker knew is in the database.
    assert ledger(campaign_id) == Counter({DeliveryStatus.SENT: len(eligible)})
    assert arrived(smtp) == Counter(dict.fromkeys(eligible, 1))
    later = utcnow().replace(year=utcnow().year + 1)
    assert recover_claims(later) == 0


def kill_clients_of_own_database(conn: redis.Redis) -> None:
    own_db, own_id = conn.connection_pool.connection_kwargs.get("db", 0), conn.client_id()
    for client in conn.client_list(_type="normal"):
        if int(client["db"]) == own_db and int(client["id"]) != own_id:
            conn.client_kill_filter(_id=client["id"])
