"""The scheduler's probe of the relays marked down: real SMTP servers (aiosmtpd), a closed port,
a socket that accepts and never answers, real Redis; each round through the scheduler's tick."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from notifier.delivery import relay_probe, relays
from notifier.infra.queues import redis_connection
from notifier.models import utcnow
from notifier.processes import scheduler
from tests.conftest import configure
from tests.integration.delivery.test_fencing import Warnings
from tests.smtp_server import SmtpTestServer

PROBE_SECONDS = 60  # a mark outlives the test: only the probe can clear it


@pytest.fixture
def up() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def closed_port() -> int:
    """A port nothing listens on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def use(app: Flask, *specs: dict) -> None:
    configure(app, RELAYS=json.dumps(list(specs)), RELAY_PROBE_SECONDS=PROBE_SECONDS)
    conn = redis_connection()
    for key in conn.scan_iter(relays.PREFIX + "*"):
        conn.delete(key)


def mark_down(*names: str) -> None:
    by_name = {relay.name: relay for relay in relays.relays()}
    for name in names:
        relays.mark_down(redis_connection(), by_name[name])


def down() -> dict[str, float]:
    return {mark.relay.name: mark.left for mark in relays.down_marks(redis_connection())}


def test_the_probe_is_one_of_the_scheduler_tasks() -> None:
    assert relay_probe.probe_down_relays in scheduler.tasks()


def test_a_relay_that_answers_again_is_back_after_one_round_and_was_sent_nothing(
    app: Flask, up: SmtpTestServer
) -> None:
    use(
        app, {"name": "a", "url": up.url}, {"name": "b", "url": f"smtp://127.0.0.1:{closed_port()}"}
    )
    mark_down("a", "b")
    conn = redis_connection()
    conn.set(f"{relays.PREFIX}a:streak", relays.BURST)  # down after a run of 4xx
    assert set(down()) == {"a", "b"}
    with Warnings(relay_probe.__name__) as warned:
        scheduler.tick(utcnow())
    assert set(down()) == {"b"}  # b still refuses
    assert not conn.exists(f"{relays.PREFIX}a:streak")  # a answered: its 4xx run is over
    assert up.connections == 1 and up.messages == []  # one session, never a message
    assert "relay a answers again" in warned.text
    # It carries campaign mail again at once: the only relay up takes the next batch.
    grant = relays.take(redis_connection(), "campaign", None, 10)
    assert grant.relay is not None and grant.relay.name == "a" and grant.count == 10


def test_a_relay_still_refusing_stays_down_for_another_interval(app: Flask) -> None:
    use(app, {"name": "a", "url": f"smtp://127.0.0.1:{closed_port()}"})
    mark_down("a")
    before = relays.down_marks(redis_connection())[0]
    time.sleep(0.3)
    scheduler.tick(utcnow())
    after = relays.down_marks(redis_connection())
    assert [mark.relay.name for mark in after] == ["a"]
    assert after[0].value != before.value  # marked again: a fresh interval
    assert after[0].left > PROBE_SECONDS - 5


def test_a_relay_that_accepts_but_never_answers_is_given_up_within_the_timeout(
    app: Flask, silent: int
) -> None:
    # Two of them: probed at once, they cost one timeout, not two.
    use(
        app,
        {"name": "a", "url": f"smtp://127.0.0.1:{silent}?timeout=1"},
        {"name": "b", "url": f"smtp://127.0.0.1:{silent}?timeout=1"},
    )
    mark_down("a", "b")
    started = time.monotonic()
    assert relay_probe.probe_down_relays(utcnow()) == 0
    took = time.monotonic() - started
    assert 0.9 < took < 1.9, took
    assert set(down()) == {"a", "b"}


def test_the_probe_timeout_bounds_a_url_with_a_long_one(app: Flask, silent: int) -> None:
    use(app, {"name": "a", "url": f"smtp://127.0.0.1:{silent}?timeout=30"})
    mark_down("a")
    started = time.monotonic()
    scheduler.tick(utcnow())
    took = time.monotonic() - started
    assert relay_probe.TIMEOUT - 0.1 < took < relay_probe.TIMEOUT + 3, took
    assert set(down()) == {"a"}


def test_no_relay_down_no_smtp_session(app: Flask, up: SmtpTestServer) -> None:
    use(app, {"name": "a", "url": up.url}, {"name": "b", "url": up.url})
    scheduler.tick(utcnow())
    assert relay_probe.probe_down_relays(utcnow()) == 0
    assert up.connections == 0


def test_a_mark_set_again_during_the_probe_is_not_cleared(app: Flask, up: SmtpTestServer) -> None:
    """A batch that marks the relay down while it is probed has the newer word."""
    use(app, {"name": "a", "url": up.url})
    mark_down("a")
    (mark,) = relays.down_marks(redis_connection())
    time.sleep(0.01)
    mark_down("a")  # a batch's newer failure
    assert not relays.clear_mark(redis_connection(), mark)
    assert set(down()) == {"a"}


def test_without_relays_the_probe_does_nothing_not_even_a_redis_call(
    app: Flask, up: SmtpTestServer
) -> None:
    configure(app, SMTP_URL=up.url, RELAYS="", REDIS_URL=f"redis://127.0.0.1:{closed_port()}/5")
    app.extensions.pop("notifier.redis", None)  # the next call connects to REDIS_URL: refused
    try:
        assert relay_probe.probe_down_relays(utcnow()) == 0
    finally:
        app.extensions.pop("notifier.redis", None)
    assert up.connections == 0
