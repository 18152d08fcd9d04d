"""The billing system's webhook: each notice status change reaches a real receiver, signed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.operations import webhook_endpoints as endpoints
from tests.conftest import configure
from tests.integration import test_api_support as support
from tests.integration.helpers import committed, drain
from tests.integration.test_api_support import notice_body, renewal_type
from tests.smtp_server import SmtpTestServer
from tests.webhook_receiver import Receiver, receiving

api, key, smtp = support.api, support.key, support.smtp  # fixtures


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    configure(app, WEBHOOK_ALLOWED_NETWORKS=["127.0.0.1/32"])
    with receiving() as server:
        with committed():
            _, server.secret = endpoints.create(
                server.url, ["notice.status_changed"], "billing", "test"
            )
        yield server


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
    assert [p.signature_ok for p in receiver.posts] == [True]
    [event] = receiver.of_type("notice.status_changed")
    data = event["data"]
    assert data["notice_id"] == notice_id and data["status"] == "sent"
    assert data["external_ref"] == "KH-001" and data["message_id"] and data["smtp_code"] == 250
    assert "khach@example.com" not in str(event)


def test_no_event_is_recorded_when_no_endpoint_subscribes(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    from sqlalchemy import func, select

    from notifier.infra.extensions import db
    from notifier.models import WebhookEvent

    trigger(api)
    drain(app)
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
