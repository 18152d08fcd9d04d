"""An operator warms up a new relay: RELAYS gives it a plan of 3 messages a day to begin with;
gunicorn, a worker and the scheduler as processes, the relay an SMTP server. Three customers get
their mail today; the others wait, unfailed, and the campaign page, the settings page and
/metrics say why."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

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

CUSTOMERS = [f"khach{i}@lamnong.example.vn" for i in range(8)]
FIRST_DAY = 3
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")  # the profile's zone: warm-up days are its local days


def local_day() -> str:
    return datetime.now(HANOI).date().isoformat()


@pytest.fixture
def product(
    tmp_path: Path, redis_url: str, dns: LocalDns, sink: SmtpTestServer, relay: SmtpTestServer
) -> Iterator[Product]:
    # The plan starts in a month: until then each day has the first day's allowance, so the
    # journey does not depend on the day it runs.
    start = (datetime.now(HANOI).date() + timedelta(days=30)).isoformat()
    plan = {"start": start, "daily": [FIRST_DAY, 50]}
    settings = {
        "NOTIFIER_RELAYS": json.dumps([{"name": "warm", "url": relay.url, "warmup": plan}]),
        "NOTIFIER_BATCH_SIZE": "4",
    }
    with started(tmp_path, redis_url, dns, sink, settings) as running:
        yield running


def test_a_new_relay_carries_its_days_allowance_and_the_rest_waits_unfailed(
    product: Product, relay: SmtpTestServer
) -> None:
    with_workers(product)
    promotion_customers(product, CUSTOMERS, "lamnong")
    staff = staff_session(product, "tiepthi.lamnong@example.com", "marketing")
    create_template(staff, "Mẫu làm nóng")
    campaign, review = create_campaign(
        staff, "Khuyến mãi qua máy chủ mới", "Mẫu làm nóng", tags="lamnong"
    )
    day = local_day()
    schedule_now(staff, campaign, review)

    progress = f"/admin/campaigns/{campaign}/progress"
    wait_until(lambda: "hạn mức làm nóng" in staff.get(progress).body, "the rest held back")
    time.sleep(3)  # a take that the day allowed would have sent by now
    # A local midnight passed meanwhile (a run at 17:00 UTC) gives the next day's three too.
    allowed = FIRST_DAY if local_day() == day else 2 * FIRST_DAY
    received = Counter(r for m in relay.messages for r in m.rcpt_tos)
    assert sum(received.values()) == allowed and set(received.values()) == {1}
    assert set(received) <= set(CUSTOMERS)

    page = staff.get(progress).body
    held = page.split("hạn mức làm nóng hôm nay")[1].split("</tr>")[0]
    assert f'<td class="num">{len(CUSTOMERS) - allowed}</td>' in held
    admin = staff_session(product, "quantri.lamnong@example.com")
    row = admin.get("/admin/settings").body.split('data-relay="warm"')[1].split("</tr>")[0]
    assert f"hôm nay {FIRST_DAY} / {FIRST_DAY}" in row and "Làm nóng từ" in row
    metrics = product.get(f"{product.base_url}/metrics")
    assert 'notifier_relay_deferred_total{reason="warmup",relay="warm"}' in metrics
    assert f'notifier_relay_sent_total{{relay="warm"}} {float(allowed)}' in metrics
