"""A customer's contract ends: the scheduler tells them once, a worker sends the notice, and
the retention purge erases their data after it has left. gunicorn, CLI, worker and scheduler
as separate processes, entered only through HTTP and the CLI (docs/automations.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.acceptance.conftest import Product, started
from tests.acceptance.journeys import mail_to, text_of, wait_until, with_workers
from tests.acceptance.test_subscriptions_journey import call, key_for
from tests.dns_server import LocalDns
from tests.smtp_server import SmtpTestServer

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def purging(
    tmp_path: Path, redis_url: str, dns: LocalDns, sink: SmtpTestServer
) -> Iterator[Product]:
    """The product with the purge every second instead of every hour."""
    settings = {"NOTIFIER_RETENTION_INTERVAL_SECONDS": "1"}
    with started(tmp_path, redis_url, dns, sink, settings) as running:
        yield running


def ended_yesterday_in_vietnam(now: datetime) -> tuple[str, str]:
    """An end date the purge already counts as past (it reads dates in Vietnam) and a zone in
    which its notice is due now, less than a day late: the end day's 09:00 in Samoa is 20:00
    UTC, in Caracas 13:00 UTC (for the three hours after midnight in Vietnam)."""
    local = now.astimezone(VIETNAM)
    zone = "Pacific/Pago_Pago" if local.hour >= 3 else "America/Caracas"
    return (local.date() - timedelta(days=1)).isoformat(), zone


def test_the_customer_is_told_once_then_erased(purging: Product, sink: SmtpTestServer) -> None:
    crm = key_for(purging, "crm", "contacts")
    ends_on, zone = ended_yesterday_in_vietnam(datetime.now(UTC))
    contact = {"external_ref": "KH-RET", "email": "het-han@example.com", "time_zone": zone,
               "contract_ends_on": ends_on, "name": "Lê Thị Hết"}  # fmt: skip
    status, answer = call(purging, crm, "POST", "/contacts", contact)
    assert status == 201, answer
    with_workers(purging)
    wait_until(lambda: mail_to(sink, "het-han@example.com"), "the retention notice")
    [notice] = mail_to(sink, "het-han@example.com")
    assert str(notice["Subject"]).startswith("Hợp đồng của bạn đã kết thúc")
    day = datetime.fromisoformat(ends_on).strftime("%d/%m/%Y")
    assert f"đã kết thúc vào ngày {day}" in text_of(notice)
    assert "/privacy?lang=vi" in text_of(notice)
    wait_until(
        lambda: call(purging, crm, "GET", "/contacts/KH-RET")[0] == 404,
        "the contact erased by the retention purge",
    )
    time.sleep(3)  # later rounds (every second) make no second notice
    assert len(mail_to(sink, "het-han@example.com")) == 1
