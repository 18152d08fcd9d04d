"""An operator runs several relays: gunicorn, two workers and the scheduler as separate processes,
three SMTP servers as relays (one refusing connections), a per-second limit, notices pinned to
the transactional relay. Everything is seen through HTTP, SMTP and the CLI."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import Product, started
from tests.acceptance.journeys import (
    PROMOTIONS,
    campaign_done,
    run_campaign,
    staff_session,
    wait_until,
)
from tests.acceptance.test_journeys import RENEWAL, _api, _ensure_renewal_type
from tests.dns_server import LocalDns
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def relays() -> Iterator[dict[str, SmtpTestServer]]:
    servers = {name: SmtpTestServer() for name in ("bulk", "spare", "tx")}
    for server in servers.values():
        server.start()
    servers["spare"].stop()  # refuses connections
    yield servers
    for server in servers.values():
        server.stop()


def test_campaign_mail_fails_over_within_its_limit_and_notices_use_their_relay(
    tmp_path: Path, redis_url: str, dns: LocalDns, relays: dict[str, SmtpTestServer]
) -> None:
    bulk, spare, tx = relays["bulk"], relays["spare"], relays["tx"]
    listing = [
        {"name": "bulk", "url": bulk.url, "weight": 1, "per_second": 4},
        {"name": "spare", "url": spare.url, "weight": 3},
        {"name": "tx", "url": tx.url, "weight": 0, "pinned": ["notice", "system"]},
    ]
    settings = {
        "NOTIFIER_RELAYS": json.dumps(listing),
        "NOTIFIER_RELAY_PROBE_SECONDS": "30",
        "NOTIFIER_BATCH_SIZE": "3",
    }
    with started(tmp_path, redis_url, dns, bulk, settings) as product:
        for _ in range(2):
            product.start("worker")
        product.start("scheduler", "--interval", "1")
        staff = staff_session(product, "ha.marketing@example.com")
        began = time.monotonic()
        campaign = run_campaign(product, staff, "Khuyến mãi nhiều máy chủ")
        wait_until(lambda: campaign_done(staff, campaign), "the campaign is sent", within=120)
        took = time.monotonic() - began
        # Everyone once, all through bulk: spare refused and was passed over.
        arrived = Counter(r for m in bulk.messages for r in m.rcpt_tos)
        assert arrived == dict.fromkeys(PROMOTIONS, 1), arrived
        assert not tx.messages
        # 4 a second at most: the first 4 at once, then a second for every 4 more.
        assert took >= (len(PROMOTIONS) - 4) / 4 * 0.9
        metrics = _metrics(product)
        assert re.search(
            r'notifier_relay_deferred_total\{reason="relay_down",relay="spare"\}', metrics
        ) or (
            'relay="spare"' not in metrics  # never drawn (weight 3 of 4 per batch: unlikely)
        )
        assert 'notifier_relay_deferred_total{reason="throttled",relay="bulk"}' in metrics
        assert re.search(
            r'notifier_relay_sent_total\{relay="bulk"\} ' + str(len(PROMOTIONS)), metrics
        )
        page = staff.get("/admin/settings").body
        assert 'data-relay="spare"' in page and 'data-relay="tx"' in page
        assert "/ 4 /s" in page.split('data-relay="bulk"')[1].split("</tr>")[0]

        created = product.cli("apikey", "create", "billing", "--scope", "notices")
        key = re.search(r"key: (\S+)", created)
        assert key, created
        _ensure_renewal_type(product, staff, key[1])
        status, accepted = _api(product, key[1], "/notices", RENEWAL)
        assert status == 202, accepted
        wait_until(lambda: bool(tx.messages), "the notice at its pinned relay")
        assert [r for m in tx.messages for r in m.rcpt_tos] == ["an@example.com"]
        assert len(bulk.messages) == len(PROMOTIONS)


def _metrics(product: Product) -> str:
    return product.get(f"{product.base_url}/metrics")
