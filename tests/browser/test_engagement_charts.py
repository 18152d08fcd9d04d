"""The campaign page's charts and the campaign comparison in Chromium: bars drawn by the server
(one per hour of the first 48, machines' stacked apart), the numbers in the table beside them,
the click-through bars of the comparison; no script error and nothing the Content-Security-Policy
had to block."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask

from notifier.campaigns.engagement_series import campaign_start
from notifier.infra.extensions import db
from notifier.models import Campaign
from tests.browser.test_accessibility_layout import WIDTH_AT
from tests.browser.test_admin_flow import _nav, _sign_in, screenshot
from tests.conftest import configure
from tests.integration.test_admin_support import make_staff
from tests.integration.tracking_steps import send_tracked
from tests.smtp_server import SmtpTestServer

CLICK_LINK = re.compile(r'href="https?://[^"/]+(/t/c/[A-Za-z0-9_-]+)"')
PIXEL = re.compile(r'src="https?://[^"/]+(/t/o/[A-Za-z0-9_-]+)"')
PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}
SCANNER = {"User-Agent": "curl/8.5.0"}


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url)
        yield server


def _console_problems(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_the_campaign_charts_and_the_comparison(
    app: Flask, live_server: str, page: Any, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    make_staff("mkt@example.com", "marketing", name="Nguyễn Thu Hà")
    sent = send_tracked(app, smtp, tmp_path)
    campaign = sent["campaign"]
    start = campaign_start(db.session.get_one(Campaign, campaign))
    mail = sent["mails"]["an@example.com"]
    public = app.test_client()
    for hours, link, who in (
        (1.5, PIXEL.findall(mail)[0], PHONE),
        (3.2, CLICK_LINK.findall(mail)[0], PHONE),
        (3.4, CLICK_LINK.findall(mail)[0], PHONE),
        (3.6, CLICK_LINK.findall(mail)[0], SCANNER),
        (60.0, CLICK_LINK.findall(mail)[0], PHONE),
    ):
        with time_machine.travel(start + timedelta(hours=hours), tick=False):
            assert public.get(link, headers=who).status_code in (200, 302)
    problems = _console_problems(page)
    with time_machine.travel(start + timedelta(days=4), tick=True):
        _sign_in(page, live_server, "mkt@example.com")
        page.goto(f"{live_server}/admin/campaigns/{campaign}")
        hourly = page.locator('svg[data-chart="clicks-hours"]')
        hourly.wait_for(state="visible")
        assert hourly.locator("rect.bar.low").count() == 48
        assert hourly.locator("rect.bar.high").count() == 1  # the scanner's, stacked apart
        values = hourly.locator("rect.bar.low").evaluate_all(
            "rects => rects.map(r => Number(r.dataset.value))"
        )
        assert values[3] == 2 and sum(values) == 2
        tall = hourly.locator("rect.bar.low").nth(3).bounding_box()
        assert tall is not None and tall["height"] > 10  # drawn, not a zero-height stub
        block = page.get_by_test_id("chart-clicks-hours")
        block.get_by_text("Xem bảng số liệu").click()
        row = block.locator("tbody tr").nth(3)
        row.wait_for(state="visible")
        assert [c.strip() for c in row.locator("td").all_inner_texts()] == ["1", "2", "1", "3"]
        assert block.locator("tbody tr").count() == 48
        assert block.locator("caption").inner_text() == "Lượt bấm liên kết theo giờ (48 giờ đầu)"
        daily = page.locator('svg[data-chart="clicks-days"]')
        daily.wait_for(state="visible")
        assert daily.locator("rect.bar.low").count() == 3  # the day the 48 hours end, to today
        page.locator('svg[data-chart="opens-hours"]').wait_for(state="visible")
        screenshot(page, "campaign-charts")

        _nav(page, "Chiến dịch")
        page.get_by_role("link", name="So sánh chiến dịch").click()
        table = page.get_by_test_id("comparison-table")
        table.wait_for(state="visible")
        bars = page.locator('svg[data-chart="ctr"] rect.bar.low')
        assert bars.count() == 1
        assert bars.first.get_attribute("data-value") == "100"
        cells = table.locator(f'tr[data-campaign="{campaign}"] td').all_inner_texts()
        assert cells[4:] == ["2", "1", "100.0 %", "1", "100.0 %", "0"]
        page.get_by_label("Số chiến dịch gần nhất").fill("0")
        page.get_by_label("Số chiến dịch gần nhất").press("Enter")
        assert problems == []  # no script error, nothing the Content-Security-Policy refused
        # The browser's own check refuses 0 first (min=1); the server refuses it as well.
        page.goto(f"{live_server}/admin/campaigns/compare?n=abc")
        page.get_by_test_id("comparison-problem").wait_for(state="visible")
        screenshot(page, "campaign-comparison-refused")
        # On a 320 px screen the charts shrink with the page and the tables scroll in their box.
        page.set_viewport_size({"width": 320, "height": 640})
        for path in (f"/admin/campaigns/{campaign}", "/admin/campaigns/compare"):
            page.goto(f"{live_server}{path}")
            page.locator("svg.chart").first.wait_for(state="visible")
            assert page.evaluate(WIDTH_AT) <= 0, path
        screenshot(page, "campaign-charts-320")
    assert problems == [
        "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"
    ]
