"""/healthz, /readyz and /metrics on a real database, Redis and SMTP server."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import configure
from tests.integration.helpers import drain, make_contact, start_campaign
from tests.smtp_server import SmtpTestServer


def test_health_and_readiness(app: Flask, client: FlaskClient, smtp: SmtpTestServer) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "redis": "ok", "smtp": "ok"}


def test_readiness_fails_when_the_relay_is_down(app: Flask, client: FlaskClient) -> None:
    configure(app, SMTP_URL="smtp://127.0.0.1:9")  # discard port: nothing listens
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["smtp"].startswith("error")


def test_metrics_count_outcomes_queues_and_latency(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    smtp.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    make_contact("ok@example.com", ("promotions",))
    make_contact("gone@example.com", ("promotions",))
    start_campaign("promotion", "promotions")
    drain(app)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'notifier_deliveries{reason="",status="sent"} 1.0' in text
    assert 'notifier_deliveries{reason="smtp_permanent",status="failed"} 1.0' in text
    assert 'notifier_queue_depth{queue="notices"} 0.0' in text
    assert "notifier_send_seconds_count 2.0" in text


def test_metrics_can_require_a_token(app: Flask, client: FlaskClient) -> None:
    configure(app, METRICS_TOKEN="s3cret")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
