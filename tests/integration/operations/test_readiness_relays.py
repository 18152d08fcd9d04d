"""/readyz with RELAYS: each relay by name, each kind of mail, through the Flask test client on
real SMTP servers (aiosmtpd), closed ports and a port whose queue is full; real Redis."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.delivery import relays
from notifier.infra.queues import redis_connection
from tests.conftest import configure
from tests.smtp_server import SmtpTestServer

PASSWORD = "s3cr3t-relay-pass"


@pytest.fixture
def servers() -> Iterator[list[SmtpTestServer]]:
    started = [SmtpTestServer() for _ in range(3)]
    for server in started:
        server.start()
    yield started
    for server in started:
        server.stop()


def closed_port() -> int:
    """A port nothing listens on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def url(port: int) -> str:
    return f"smtp+starttls://mailer:{PASSWORD}@127.0.0.1:{port}"


def ready(app: Flask, client: FlaskClient, *specs: dict) -> tuple[int, dict]:
    configure(app, RELAYS=json.dumps(list(specs)))
    answer = client.get("/readyz")
    text = answer.get_data(as_text=True)
    # By name only: never the url, which may hold a password.
    assert PASSWORD not in text and "mailer" not in text and "127.0.0.1" not in text
    assert answer.json is not None
    return answer.status_code, answer.json


def test_one_relay_of_three_refused_is_named_and_the_others_carry_everything(
    app: Flask, client: FlaskClient, servers: list[SmtpTestServer]
) -> None:
    a, b, _ = servers
    status, body = ready(
        app,
        client,
        {"name": "bulk-1", "url": url(a.port), "weight": 3},
        {"name": "bulk-2", "url": url(closed_port())},
        {"name": "tx", "url": url(b.port), "weight": 0, "pinned": ["notice", "system"]},
    )
    assert status == 200 and body["ready"] is True
    assert body["checks"] == {
        "database": "ok",
        "redis": "ok",
        "relay:bulk-1": "ok",
        "relay:bulk-2": "error: ConnectionRefusedError",
        "relay:tx": "ok",
        "mail:campaign": "ok",
        "mail:notice": "ok",
        "mail:system": "ok",
    }
    assert body["marked_down"] == {}


def test_a_notice_relay_refused_with_no_fallback_is_not_ready_and_named(
    app: Flask, client: FlaskClient, servers: list[SmtpTestServer]
) -> None:
    a, b, _ = servers
    status, body = ready(
        app,
        client,
        {"name": "bulk-1", "url": url(a.port)},
        {"name": "bulk-2", "url": url(b.port)},
        {"name": "tx", "url": url(closed_port()), "weight": 0, "pinned": ["notice"]},
    )
    assert status == 503 and body["ready"] is False
    checks = body["checks"]
    assert checks["relay:tx"] == "error: ConnectionRefusedError"
    assert checks["mail:notice"] == "error: no relay answers (tx)"
    assert checks["mail:campaign"] == checks["mail:system"] == "ok"


def test_a_fallback_that_answers_keeps_it_ready(
    app: Flask, client: FlaskClient, servers: list[SmtpTestServer]
) -> None:
    a, _, _ = servers
    status, body = ready(
        app,
        client,
        {"name": "bulk-1", "url": url(a.port)},
        {"name": "tx", "url": url(closed_port()), "weight": 0, "pinned": ["notice"]}
        | {"fallback": "bulk-1"},
    )
    assert status == 200 and body["checks"]["mail:notice"] == "ok"
    assert body["checks"]["relay:tx"] == "error: ConnectionRefusedError"


def test_no_campaign_relay_answering_is_not_ready(
    app: Flask, client: FlaskClient, servers: list[SmtpTestServer]
) -> None:
    a, _, _ = servers
    status, body = ready(
        app,
        client,
        {"name": "bulk-1", "url": url(closed_port())},
        {"name": "tx", "url": url(a.port), "weight": 0, "pinned": ["notice", "system"]},
    )
    assert status == 503
    assert body["checks"]["mail:campaign"] == "error: no relay answers (bulk-1)"


def test_all_up_is_ready_and_a_relay_marked_down_is_shown_not_judged(
    app: Flask, client: FlaskClient, servers: list[SmtpTestServer]
) -> None:
    specs = [{"name": f"bulk-{n}", "url": url(server.port)} for n, server in enumerate(servers)]
    status, body = ready(app, client, *specs)
    assert status == 200 and set(body["checks"].values()) == {"ok"}
    assert len(body["checks"]) == 2 + 3 + 3 and body["marked_down"] == {}
    relays.mark_down(redis_connection(), relays.relays()[1])
    status, body = ready(app, client, *specs)
    assert status == 200 and list(body["marked_down"]) == ["bulk-1"]
    assert 0 < body["marked_down"]["bulk-1"] <= 5
    # A TCP connect a call (aiosmtpd counts it as a session), never a message.
    assert servers[1].connections_after(2) == 2 and servers[1].messages == []


@pytest.fixture
def full_port() -> Iterator[int]:
    """A port whose queue of connections is full: a connect to it waits out its timeout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):  # fills the queue
            yield port


def test_relays_that_never_answer_cost_one_timeout_not_one_each(
    app: Flask, client: FlaskClient, servers: list[SmtpTestServer], full_port: int
) -> None:
    a, _, _ = servers
    specs = [{"name": f"bulk-{n}", "url": url(full_port)} for n in range(3)]
    specs.append({"name": "tx", "url": url(a.port), "weight": 0, "pinned": ["notice"]})
    started = time.monotonic()
    status, body = ready(app, client, *specs)
    took = time.monotonic() - started
    assert status == 503
    assert body["checks"]["relay:bulk-0"] == "error: TimeoutError"
    assert body["checks"]["mail:campaign"] == "error: no relay answers (bulk-0, bulk-1, bulk-2)"
    assert 1.9 < took < 3.5, took


def test_a_kind_no_relay_may_carry_is_not_ready(
    app: Flask, client: FlaskClient, servers: list[SmtpTestServer]
) -> None:
    a, _, _ = servers
    status, body = ready(
        app, client, {"name": "news", "url": url(a.port), "weight": 0, "pinned": ["campaign"]}
    )
    assert status == 503 and body["checks"]["relay:news"] == "ok"
    assert body["checks"]["mail:campaign"] == "ok"
    assert body["checks"]["mail:notice"] == "error: no relay carries it"


def test_a_purpose_pinned_to_a_relay_that_does_not_answer_is_not_ready_unless_it_falls_back(
    app: Flask, client: FlaskClient, servers: list[SmtpTestServer]
) -> None:
    """Campaign mail of a pinned purpose has its own candidates: the rest of the campaign mail
    going out says nothing of it."""
    a, _, _ = servers
    promo = {"name": "promo", "url": url(closed_port()), "weight": 0,
             "pinned": ["purpose:promotions"]}  # fmt: skip
    status, body = ready(app, client, {"name": "bulk-1", "url": url(a.port)}, promo)
    assert status == 503 and body["ready"] is False
    assert body["checks"]["mail:purpose:promotions"] == "error: no relay answers (promo)"
    assert body["checks"]["mail:campaign"] == "ok"
    status, body = ready(
        app, client, {"name": "bulk-1", "url": url(a.port)}, promo | {"fallback": "bulk-1"}
    )
    assert status == 200 and body["checks"]["mail:purpose:promotions"] == "ok"
    assert body["checks"]["relay:promo"] == "error: ConnectionRefusedError"
