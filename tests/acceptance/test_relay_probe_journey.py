"""An operator watches several relays through /readyz while the scheduler probes the one marked
down: gunicorn and the scheduler as separate processes, three SMTP servers as relays."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.acceptance.conftest import Product, started
from tests.acceptance.journeys import wait_until
from tests.dns_server import LocalDns
from tests.smtp_server import SmtpTestServer

PASSWORD = "tx-relay-s3cret"
RESTS = 600  # RELAY_PROBE_SECONDS: a mark outlives the test, only the probe clears it


@pytest.fixture
def relays() -> Iterator[dict[str, SmtpTestServer]]:
    servers = {"bulk": SmtpTestServer(), "spare": SmtpTestServer(), "tx": SmtpTestServer(auth=True)}
    for server in servers.values():
        server.start()
    servers["spare"].stop()  # refuses connections; started again on its port later
    yield servers
    for server in servers.values():
        server.stop()


def readyz(product: Product) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{product.base_url}/readyz", timeout=15) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        status, text = refused.code, refused.read().decode()
    assert PASSWORD not in text and "127.0.0.1" not in text  # names, never urls
    return status, json.loads(text)


def test_the_scheduler_brings_a_relay_back_as_soon_as_it_answers_and_readyz_tells_it(
    tmp_path: Path, redis_url: str, dns: LocalDns, relays: dict[str, SmtpTestServer]
) -> None:
    bulk, spare, tx = relays["bulk"], relays["spare"], relays["tx"]
    listing = [
        {"name": "bulk", "url": bulk.url, "weight": 1},
        {"name": "spare", "url": spare.url, "weight": 3},
        {
            "name": "tx",
            "url": f"smtp://mailer:{PASSWORD}@127.0.0.1:{tx.port}",
            "weight": 0,
            "pinned": ["notice", "system"],
        },
    ]
    settings = {
        "NOTIFIER_RELAYS": json.dumps(listing),
        "NOTIFIER_RELAY_PROBE_SECONDS": str(RESTS),
    }
    with started(tmp_path, redis_url, dns, bulk, settings) as product:
        # spare refuses: reported by name, and the others carry every kind of mail.
        status, body = readyz(product)
        assert status == 200, body
        assert body["checks"]["relay:spare"] == "error: ConnectionRefusedError"
        assert body["checks"]["relay:bulk"] == body["checks"]["relay:tx"] == "ok"
        assert body["marked_down"] == {}

        # A batch that found it refusing marks it down (what the send path writes).
        redis.Redis.from_url(redis_url).set(
            "notifier:relay:spare:down", str(time.time()), px=RESTS * 1000
        )
        scheduler = product.start("scheduler", "--interval", "1")
        scheduler.wait_for("relay spare still down")
        time.sleep(2)  # rounds of the scheduler: spare still refuses, so it stays down
        status, body = readyz(product)
        assert status == 200 and list(body["marked_down"]) == ["spare"]
        assert body["marked_down"]["spare"] > RESTS - 5  # marked again by the probe

        spare.start()  # answers again, on its port
        wait_until(lambda: readyz(product)[1]["marked_down"] == {}, "the probe clears spare", 15)
        scheduler.wait_for("relay spare answers again: back in service")
        assert readyz(product)[1]["checks"]["relay:spare"] == "ok"
        assert spare.messages == []  # probed, never sent a message

        # The relay notices are pinned to stops, with no fallback: not ready, and why.
        tx.stop()
        status, body = readyz(product)
        assert status == 503 and body["ready"] is False
        assert body["checks"]["relay:tx"] == "error: ConnectionRefusedError"
        assert body["checks"]["mail:notice"] == "error: no relay answers (tx)"
        assert body["checks"]["mail:system"] == "error: no relay answers (tx)"
        assert body["checks"]["mail:campaign"] == "ok"
