"""Webhooks: signed notice status changes reach a real HTTP receiver, retried on failure."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from notifier.infra.extensions import db
from notifier.models import WebhookEvent, WebhookStatus, utcnow
from notifier.notices import webhooks
from tests.conftest import configure
from tests.integration import test_api_support as support
from tests.integration.helpers import drain
from tests.integration.test_api_support import notice_body, renewal_type
from tests.smtp_server import SmtpTestServer

api, key, smtp = support.api, support.key, support.smtp  # fixtures

SECRET = "whsec-test-0123456789"


class Receiver:
    """A billing system's endpoint: verifies each signature the way docs/api.md tells them to."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.verified: list[bool] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.verified.append(
                    webhooks.verify(
                        SECRET,
                        self.headers["Notifier-Timestamp"],
                        body,
                        self.headers["Notifier-Signature"],
                        time.time(),
                    )
                )
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    receiver.received.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/notifier"


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    configure(app, API_WEBHOOK_URL=receiver.url, API_WEBHOOK_SECRET=SECRET)
    yield receiver
    receiver.server.shutdown()
    thread.join(5)


def the_event() -> WebhookEvent:
    db.session.remove()
    [hook] = db.session.scalars(select(WebhookEvent)).all()
    return hook


def trigger(api: FlaskClient) -> int:
    renewal_type()
    response = api.post("/api/v1/notices", json=notice_body(), headers={"Idempotency-Key": "w1"})
    assert response.status_code == 202
    return response.get_json()["id"]


def test_a_sent_notice_is_reported_with_a_valid_signature(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer, receiver: Receiver
) -> None:
    notice_id = trigger(api)
    drain(app)
    assert receiver.verified == [True]
    [event] = receiver.received
    assert event["event"] == "notice.status_changed"
    assert event["notice"]["id"] == notice_id and event["notice"]["status"] == "sent"
    assert event["notice"]["external_ref"] == "KH-001" and event["notice"]["message_id"]


def test_a_tampered_or_stale_delivery_fails_verification(app: Flask) -> None:
    body, now = b'{"id":1}', time.time()
    timestamp = str(int(now))
    signature = webhooks.sign(SECRET, timestamp, body)
    assert webhooks.verify(SECRET, timestamp, body, signature, now)
    assert not webhooks.verify(SECRET, timestamp, b'{"id":2}', signature, now)
    assert not webhooks.verify("other-secret", timestamp, body, signature, now)
    assert not webhooks.verify(SECRET, timestamp, body, signature, now + 301)
    assert not webhooks.verify(SECRET, "soon", body, signature, now)


def test_a_failing_receiver_is_retried_with_backoff(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer, receiver: Receiver
) -> None:
    receiver.fail_next = 2
    trigger(api)
    # The waits are measured from the attempt, bracketed by the clock around it: a slow machine
    # must not make the backoff look shorter than it is.
    before = utcnow()
    drain(app)
    after = utcnow()
    hook = the_event()
    assert (hook.status, hook.attempts) == (WebhookStatus.PENDING, 1)
    assert hook.last_error == "HTTP 503" and hook.next_attempt_at is not None
    assert before + timedelta(seconds=30) <= hook.next_attempt_at <= after + timedelta(seconds=30)

    assert webhooks.retry_due(utcnow()) == 0  # not due yet
    assert webhooks.retry_due(hook.next_attempt_at + timedelta(seconds=1)) == 1
    before = utcnow()
    drain(app)
    after = utcnow()
    hook = the_event()
    assert hook.attempts == 2 and hook.next_attempt_at is not None
    doubled = timedelta(seconds=60)
    assert before + doubled <= hook.next_attempt_at <= after + doubled

    webhooks.retry_due(hook.next_attempt_at + timedelta(seconds=1))
    drain(app)
    hook = the_event()
    assert (hook.status, hook.attempts) == (WebhookStatus.DELIVERED, 3)
    assert len(receiver.received) == 1 and all(receiver.verified)


def test_no_webhook_is_recorded_when_none_is_configured(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    trigger(api)
    drain(app)
    assert db.session.scalar(select(WebhookEvent)) is None
