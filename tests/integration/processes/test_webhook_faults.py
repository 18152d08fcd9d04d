"""A worker killed mid-delivery: the event reaches the receiver again with the same id, never a
new one, once the claim has run out and the scheduler hands the row out again."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from notifier.contacts import consent_ledger as consent
from notifier.infra.extensions import db
from notifier.models import ConsentSource, WebhookDelivery, WebhookEvent, WebhookStatus, utcnow
from notifier.operations import webhook_endpoints as endpoints
from notifier.processes.scheduler import tick
from tests.conftest import configure
from tests.integration.helpers import committed, make_contact
from tests.integration.workers import worker_env
from tests.webhook_receiver import receiving

pytestmark = pytest.mark.slow
TIMEOUT = 4  # the claim's lease is this plus 5 s


def wait_for(check: object, what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        time.sleep(0.1)


def test_a_worker_killed_mid_delivery_leads_to_a_redelivery_with_the_same_event_id(
    app: Flask, tmp_path: Path
) -> None:
    allowed = ["127.0.0.1/32"]
    configure(app, WEBHOOK_ALLOWED_NETWORKS=allowed, WEBHOOK_TIMEOUT_SECONDS=TIMEOUT)
    env = worker_env(
        app,
        tmp_path,
        WEBHOOK_ALLOWED_NETWORKS=json.dumps(allowed),
        WEBHOOK_TIMEOUT_SECONDS=str(TIMEOUT),
    )
    notifier = str(Path(sys.executable).with_name("notifier"))
    with receiving() as receiver:
        with committed():
            _, receiver.secret = endpoints.create(receiver.url, ["consent.withdrawn"], "", "t")
        receiver.script = ["hang"]  # holds the first request open: the worker is mid-delivery
        contact = make_contact("an@example.com", grants=("promotions",))
        with committed():
            consent.withdraw(contact, ["promotions"], consent.Evidence(source=ConsentSource.STAFF))

        worker = subprocess.Popen(
            [notifier, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            assert receiver.holding.wait(60), "the worker never reached the receiver"
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        receiver.release.set()

        db.session.remove()
        [row] = db.session.scalars(select(WebhookDelivery)).all()
        assert (row.status, row.attempts) == (WebhookStatus.PENDING, 1)
        assert row.claimed_until is not None  # the dead worker's claim, until it runs out
        delivery_id = row.id
        first_id = receiver.posts[0].event["id"]

        # The scheduler hands the row out only once the claim has run out.
        tick(utcnow())
        second = subprocess.Popen(
            [notifier, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:

            def delivered() -> bool:
                tick(utcnow())
                db.session.remove()
                found = db.session.get(WebhookDelivery, delivery_id)
                return found is not None and found.status == WebhookStatus.DELIVERED

            wait_for(delivered, "the redelivery", within=90)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)

    ids = [p.event["id"] for p in receiver.posts]
    assert ids == [first_id, first_id]  # the same event, never a new id
    assert list(receiver.accepted) == [first_id] and all(p.signature_ok for p in receiver.posts)
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    db.session.remove()
    final = db.session.get(WebhookDelivery, delivery_id)
    assert final is not None and final.attempts == 2
