"""A campaign's opens and clicks on its admin page and as CSV: people's counts only, machines
apart; counts name nobody; the page needs the campaign permission; untracked mail shows none."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from notifier.models.types import utcnow
from tests.integration.helpers import drain, make_contact, start_campaign
from tests.integration.rsvp_steps import parsed
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.integration.tracking_steps import html_of, send_tracked
from tests.smtp_server import SmtpTestServer

CLICK_LINK = re.compile(r'href="https://notifier\.test(/t/c/[A-Za-z0-9_-]+)"')
PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}


@pytest.fixture
def clicked(app: Flask, smtp: SmtpTestServer, tmp_path: Path) -> dict:
    """An's first link followed by a scanner at once, then twice by An five minutes later."""
    sent = send_tracked(app, smtp, tmp_path)
    first = CLICK_LINK.findall(sent["mails"]["an@example.com"])[0]
    public = app.test_client()
    assert public.get(first, headers=PHONE).status_code == 302
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        for _ in range(2):
            assert public.get(first, headers=PHONE).status_code == 302
    return sent


@pytest.fixture
def staff(app: Flask) -> FlaskClient:
    client = browser(app)
    make_staff("tiepthi@example.com", "marketing")
    sign_in(client, "tiepthi@example.com")
    return client


def test_the_campaign_page_and_csv_show_peoples_clicks(staff: FlaskClient, clicked: dict) -> None:
    page = staff.get(f"/admin/campaigns/{clicked['campaign']}").get_data(as_text=True)
    card = page[page.index('id="engagement"') :]
    assert "Mở thư và bấm liên kết" in card
    assert "<dd>1 (2)</dd>" in card  # one person, two clicks; the scanner's is not among them
    assert "<dd>100.0 %</dd>" in card  # one tracked message, one person clicked
    assert "https://client.dcnet.vn/khuyen-mai?utm_source=email" in card
    assert "an@example.com" not in card and "Nguyễn Văn An" not in card
    answer = staff.get(f"/admin/campaigns/{clicked['campaign']}/engagement.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    values = {r["measure"]: r["value"] for r in rows if not r["link"]}
    assert values["clicks"] == "2" and values["unique_clicks"] == "1"
    assert values["machine_clicks"] == "1" and values["click_through_rate"] == "1.0000"
    assert values["messages_with_tracked_links"] == "1"
    links = [(r["measure"], r["link"], r["value"]) for r in rows if r["link"]]
    assert links == [("link_clicks", "0", "2"), ("link_unique_clicks", "0", "1")]
    english = staff.get(f"/admin/campaigns/{clicked['campaign']}?lang=en")
    assert "Opens and clicks" in english.get_data(as_text=True)


def test_the_counts_need_the_campaign_permission(app: Flask, clicked: dict) -> None:
    anonymous = browser(app)
    answer = anonymous.get(f"/admin/campaigns/{clicked['campaign']}/engagement.csv")
    assert answer.status_code in (302, 401, 403)
    assert "link_clicks" not in answer.get_data(as_text=True)


def test_an_untracked_campaign_shows_no_counts(
    app: Flask, staff: FlaskClient, smtp: SmtpTestServer
) -> None:
    make_contact("an@example.com", grants=("promotions",))
    promotion = start_campaign("promotion", "promotions")
    drain(app)
    page = staff.get(f"/admin/campaigns/{promotion}").get_data(as_text=True)
    assert 'id="engagement"' not in page
    (mail,) = parsed(smtp)
    html = html_of(mail)
    assert "https://client.dcnet.vn" in html and "/t/c/" not in html and "/t/o/" not in html
