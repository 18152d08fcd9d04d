"""Outgoing webhooks against a real receiver: captured with the change, signed, retried with
backoff, the same event id on every attempt, given up after N failures, endpoints disabled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from notifier.contacts import consent_ledger as consent
from notifier.domain.webhooks import EVENT_TYPES
from notifier.infra.extensions import db
from notifier.infra.queues import queue
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import (
    ConsentSource,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookStatus,
    utcnow,
)
from notifier.operations import webhook_endpoints as endpoints
from notifier.webhooks import sending
from tests.conftest import configure
from tests.integration.helpers import committed, drain, make_contact
from tests.webhook_receiver import Receiver, receiving

LOCAL = ["127.0.0.1/32"]


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    configure(
        app, WEBHOOK_ALLOWED_NETWORKS=LOCAL, WEBHOOK_RETRY_SECONDS=0.2, WEBHOOK_TIMEOUT_SECONDS=2
    )
    with receiving() as server:
        yield server


def subscribe(receiver: Receiver, *events: str) -> int:
    with committed():
        view, secret = endpoints.create(receiver.url, list(events), "billing", "test")
    receiver.secret = secret
    return view.id


def withdraw(contact_id: int) -> None:
    with committed():
        consent.withdraw(
            contact_id, ["promotions"], consent.Evidence(source=ConsentSource.ONE_CLICK)
        )


def the_delivery() -> WebhookDelivery:
    db.session.remove()
    [row] = db.session.scalars(select(WebhookDelivery)).all()
    return row


def wait_due(row: WebhookDelivery) -> None:
    assert row.next_attempt_at is not None
    while utcnow() < row.next_attempt_at:
        time.sleep(0.05)


def retry(app: Flask) -> None:
    with committed():
        sending.retry_due(utcnow())
    drain(app)


def test_a_withdrawal_reaches_the_receiver_once_signed_with_ids_only(
    app: Flask, receiver: Receiver
) -> None:
    subscribe(receiver, "consent.withdrawn", "consent.granted")
    contact = make_contact("an@example.com", grants=("promotions",), external_ref="KH-7")
    withdraw(contact)
    with committed():  # the scheduler leaves fresh rows to the jobs their commit enqueued ...
        assert sending.retry_due(utcnow()) == 0
    with committed():  # ... and enqueues them again later, as if Redis had lost those jobs
        assert sending.retry_due(utcnow() + timedelta(seconds=11)) == 2
    drain(app)  # two jobs for each row: the claim lets one of them send
    assert len(receiver.posts) == 2 and all(p.signature_ok for p in receiver.posts)
    granted, withdrawn = receiver.of_type("consent.granted"), receiver.of_type("consent.withdrawn")
    assert len(granted) == 1 and len(withdrawn) == 1
    event = withdrawn[0]
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["data"] == {
        "contact_id": contact,
        "external_ref": "KH-7",
        "purpose": "promotions",
        "channel": "one_click",
        "consent_event_id": event["data"]["consent_event_id"],
    }
    assert "an@example.com" not in str(receiver.posts)  # no address in any event
    assert receiver.posts[-1].event_id_header == event["id"]


def test_a_change_that_rolls_back_leaves_no_event_and_enqueues_nothing(
    app: Flask, receiver: Receiver
) -> None:
    subscribe(receiver, "consent.withdrawn")
    contact = make_contact("binh@example.com", grants=("promotions",))
    queued = queue("notices").count
    with pytest.raises(RuntimeError), unit_of_work():
        consent.withdraw(contact, ["promotions"], consent.Evidence(source=ConsentSource.STAFF))
        assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
        raise RuntimeError("the change fails after the event was staged")
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert queue("notices").count == queued
    drain(app)
    assert receiver.posts == []


def test_a_failing_receiver_gets_the_same_event_id_again_after_a_backoff(
    app: Flask, receiver: Receiver
) -> None:
    subscribe(receiver, "consent.withdrawn")
    contact = make_contact("chi@example.com", grants=("promotions",))
    receiver.script = [500, 500, 200]
    withdraw(contact)
    # The waits are bracketed by the clock around each attempt: base 0.2 s, then 0.4 s, each
    # scaled by a jitter between half and all of it; a slow machine cannot make them look shorter.
    before = utcnow()
    drain(app)
    after = utcnow()
    row = the_delivery()
    assert (row.status, row.attempts, row.last_status_code) == (WebhookStatus.PENDING, 1, 500)
    assert row.next_attempt_at is not None
    ms = timedelta(milliseconds=1)
    assert before + 100 * ms <= row.next_attempt_at <= after + 200 * ms
    with committed():
        assert sending.retry_due(before) == 0  # not due yet
    wait_due(row)
    before = utcnow()
    retry(app)
    after = utcnow()
    row = the_delivery()
    assert row.attempts == 2 and row.status == WebhookStatus.PENDING
    assert row.next_attempt_at is not None
    assert before + 200 * ms <= row.next_attempt_at <= after + 400 * ms
    wait_due(row)
    retry(app)
    row = the_delivery()
    assert (row.status, row.attempts, row.last_status_code) == (WebhookStatus.DELIVERED, 3, 200)
    ids = {p.event["id"] for p in receiver.posts}
    assert (
        len(receiver.posts) == 3 and len(ids) == 1 and all(p.signature_ok for p in receiver.posts)
    )
    assert len(receiver.accepted) == 1


def test_after_the_last_attempt_the_event_is_failed_and_a_long_failing_endpoint_disabled(
    app: Flask, receiver: Receiver
) -> None:
    configure(app, WEBHOOK_MAX_ATTEMPTS=2, WEBHOOK_DISABLE_AFTER_SECONDS=1)
    endpoint_id = subscribe(receiver, "consent.withdrawn")
    receiver.default = 503
    withdraw(make_contact("dung@example.com", grants=("promotions",)))
    drain(app)
    row = the_delivery()
    assert row.status == WebhookStatus.PENDING
    time.sleep(1.05)  # the endpoint has now failed for longer than DISABLE_AFTER_SECONDS
    wait_due(row)
    retry(app)
    row = the_delivery()
    assert (row.status, row.attempts, row.last_error) == (WebhookStatus.FAILED, 2, "HTTP 503")
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    assert endpoint is not None and not endpoint.enabled
    assert "every attempt failed since" in endpoint.disabled_note
    # A disabled endpoint is captured for no more.
    withdraw(make_contact("em@example.com", grants=("promotions",)))
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_redeliver_sends_the_same_event_again_and_the_receiver_drops_it(
    app: Flask, receiver: Receiver
) -> None:
    endpoint_id = subscribe(receiver, "consent.withdrawn")
    withdraw(make_contact("giang@example.com", grants=("promotions",)))
    drain(app)
    row = the_delivery()
    with committed():
        endpoints.redeliver(row.id, "staff:1")
    drain(app)
    assert len(receiver.posts) == 2 and receiver.posts[0].event == receiver.posts[1].event
    assert len(receiver.accepted) == 1 and receiver.duplicates == 1
    [logged] = endpoints.deliveries(endpoint_id)
    assert (logged.status, logged.attempts, logged.last_status_code) == ("delivered", 1, 200)


def test_every_event_type_is_in_the_catalogue_with_ids_only() -> None:
    assert set(EVENT_TYPES) == {
        "consent.granted", "consent.withdrawn", "contact.suppressed", "notice.status_changed",
        "privacy_request.created", "privacy_request.completed", "campaign.finished",
        "subscription.reminder_sent",
    }  # fmt: skip


def test_the_reminder_event_is_one_call_for_the_subscriptions_code(
    app: Flask, receiver: Receiver
) -> None:
    from notifier import webhooks

    subscribe(receiver, "subscription.reminder_sent")
    with committed():
        webhooks.capture(
            "subscription.reminder_sent",
            {"subscription_id": 7, "contact_id": 42, "reminder": "7_days", "due_on": "2026-12-13"},
        )
    drain(app)
    [event] = receiver.of_type("subscription.reminder_sent")
    assert event["data"]["subscription_id"] == 7
    with pytest.raises(Exception, match="email"), committed():
        webhooks.capture("subscription.reminder_sent", {"email": "an@example.com"})
