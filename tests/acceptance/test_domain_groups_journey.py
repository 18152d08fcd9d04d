"""An operator limits mail to Gmail: gunicorn, a worker and the scheduler as processes, a relay
(an SMTP server) that answers 451 once for one Gmail customer, RELAY_GROUPS giving gmail one
message a second. Seen through the API, the admin pages, /metrics and the SMTP server."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import LocalDns, Product, started
from tests.acceptance.journeys import (
    create_campaign,
    create_template,
    schedule_now,
    staff_session,
    wait_until,
    with_workers,
)
from tests.acceptance.test_subscriptions_journey import promotion_customers
from tests.smtp_server import SmtpTestServer

GMAIL = [f"khach{i}@gmail.com" for i in range(5)]
OTHERS = ["an@example.com", "binh@example.vn", "chi@yahoo.com.vn"]
SLOWED = GMAIL[1]


@pytest.fixture
def product(
    tmp_path: Path, redis_url: str, dns: LocalDns, sink: SmtpTestServer, relay: SmtpTestServer
) -> Iterator[Product]:
    settings = {
        "NOTIFIER_RELAYS": json.dumps([{"name": "bulk", "url": relay.url, "per_second": 50}]),
        "NOTIFIER_RELAY_GROUPS": json.dumps([{"name": "gmail", "per_second": 1}]),
        "NOTIFIER_BATCH_SIZE": "4",
        "NOTIFIER_SMTP_RETRY_SECONDS": "2",
    }
    with started(tmp_path, redis_url, dns, sink, settings) as running:
        yield running


def test_gmail_gets_one_a_second_and_rests_after_a_451_while_the_rest_goes_on(
    product: Product, relay: SmtpTestServer
) -> None:
    with_workers(product)
    promotion_customers(product, GMAIL + OTHERS, "nhomtenmien")
    relay.rcpt_replies[SLOWED] = "451 4.7.1 Gmail: too many messages, slow down"
    staff = staff_session(product, "tiepthi.gmail@example.com", "marketing")
    create_template(staff, "Mẫu nhóm tên miền")
    campaign, review = create_campaign(
        staff, "Khuyến mãi theo nhà cung cấp", "Mẫu nhóm tên miền", tags="nhomtenmien"
    )
    began = time.monotonic()
    schedule_now(staff, campaign, review)

    # The 451 rests gmail (/metrics names it); then the relay takes that customer's mail again.
    wait_until(lambda: 'reason="backoff",relay="gmail"' in _metrics(product), "gmail resting")
    del relay.rcpt_replies[SLOWED]
    everyone = GMAIL + OTHERS
    wait_until(lambda: len(_received(relay)) == len(everyone), "everyone's mail", within=90)
    time.sleep(2)  # anything more would arrive now
    assert _received(relay) == dict.fromkeys(everyone, 1)

    # The others did not wait for gmail; gmail's five came at most one a second.
    arrived = {m.rcpt_tos[0]: m.received_at for m in relay.messages}
    gmail_times = sorted(arrived[a] for a in GMAIL)
    assert max(arrived[a] for a in OTHERS) < gmail_times[-1]
    assert gmail_times[-1] - gmail_times[0] >= 3.0, gmail_times
    assert time.monotonic() - began >= 4.0

    metrics = _metrics(product)
    assert 'notifier_relay_deferred_total{reason="group",relay="gmail"}' in metrics
    admin = staff_session(product, "quantri.gmail@example.com")
    settings = admin.get("/admin/settings").body
    gmail_row = settings.split('data-group="gmail"')[1].split("</tr>")[0]
    assert "/ 1 /s" in gmail_row and "<code>googlemail.com</code>" in gmail_row
    assert "Nhóm tên miền người nhận" in settings
    assert "Recipient-domain groups" in admin.get("/admin/settings?lang=en").body


def _received(relay: SmtpTestServer) -> Counter[str]:
    return Counter(r for m in relay.messages for r in m.rcpt_tos)


def _metrics(product: Product) -> str:
    return product.get(f"{product.base_url}/metrics")
