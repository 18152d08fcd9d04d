"""A campaign's opens and clicks over time, through the real send path and HTTP: events at known
hours (the clock moved, the links followed) land in the right hour for the first 48 hours and the
right UTC day after; after the roll-up only days remain and the counts stay; the page draws one
bar per bucket with the numbers in its table; the CSV holds the same buckets. SQLite and
PostgreSQL alike (DATABASE_URL)."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from notifier.campaigns.engagement import roll_up
from notifier.campaigns.engagement_series import campaign_start
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Campaign
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.integration.tracking_steps import send_tracked
from tests.smtp_server import SmtpTestServer

CLICK_LINK = re.compile(r'href="https://notifier\.test(/t/c/[A-Za-z0-9_-]+)"')
PIXEL = re.compile(r'src="https://notifier\.test(/t/o/[A-Za-z0-9_-]+)"')
PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}
SCANNER = {"User-Agent": "curl/8.5.0"}

# (hours after the campaign's first hour, kind, who): the fixture follows each at that moment.
EVENTS = (
    (1.1, "open", PHONE),
    (1.2, "click", PHONE),
    (3.5, "click", PHONE),
    (3.6, "click", PHONE),
    (3.7, "click", SCANNER),
    (47.9, "click", PHONE),
    (50.5, "click", PHONE),
    (98.0, "click", PHONE),
)


@pytest.fixture
def followed(app: Flask, smtp: SmtpTestServer, tmp_path: Path) -> dict:
    sent = send_tracked(app, smtp, tmp_path)
    start = campaign_start(db.session.get_one(Campaign, sent["campaign"]))
    mail = sent["mails"]["an@example.com"]
    links = {"open": PIXEL.findall(mail)[0], "click": CLICK_LINK.findall(mail)[0]}
    public = app.test_client()
    for hours, kind, who in EVENTS:
        with time_machine.travel(start + timedelta(hours=hours), tick=False):
            assert public.get(links[kind], headers=who).status_code in (200, 302)
    return {**sent, "start": start}


@pytest.fixture
def staff(app: Flask) -> FlaskClient:
    """Signs in where it is used: the clock moves days ahead, past any session's life."""
    make_staff("tiepthi@example.com", "marketing")
    return browser(app)


def _rows(client: FlaskClient, campaign: int) -> list[dict[str, str]]:
    answer = client.get(f"/admin/campaigns/{campaign}/engagement-over-time.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def _nonzero(rows: list[dict[str, str]], series: str, granularity: str) -> dict[str, tuple]:
    return {
        r["start_utc"]: (int(r["people"]), int(r["human"]), int(r["machine"]), int(r["total"]))
        for r in rows
        if r["series"] == series and r["granularity"] == granularity and r["total"] != "0"
    }


def _hour(start: datetime, hours: float) -> str:
    return (start + timedelta(hours=int(hours))).isoformat()


def _day(start: datetime, hours: float) -> str:
    return (start + timedelta(hours=hours)).date().isoformat()


def test_events_fall_in_their_hour_then_their_day(staff: FlaskClient, followed: dict) -> None:
    start, campaign = followed["start"], followed["campaign"]
    with time_machine.travel(start + timedelta(days=5), tick=False):
        sign_in(staff, "tiepthi@example.com")
        rows = _rows(staff, campaign)
        page = staff.get(f"/admin/campaigns/{campaign}").get_data(as_text=True)
    hourly_clicks = [r for r in rows if r["series"] == "clicks" and r["granularity"] == "hour"]
    assert len(hourly_clicks) == 48  # every hour of the first 48, the empty ones as zeros
    assert hourly_clicks[0]["start_utc"] == start.isoformat()
    assert _nonzero(rows, "clicks", "hour") == {
        _hour(start, 1.2): (1, 1, 0, 1),
        _hour(start, 3.5): (1, 2, 1, 3),  # one person twice, the scanner apart
        _hour(start, 47.9): (1, 1, 0, 1),
    }
    assert _nonzero(rows, "opens", "hour") == {_hour(start, 1.1): (1, 1, 0, 1)}
    assert _nonzero(rows, "clicks", "day") == {
        _day(start, 50.5): (1, 1, 0, 1),
        _day(start, 98.0): (1, 1, 0, 1),
    }
    days = [r["start_utc"] for r in rows if r["series"] == "clicks" and r["granularity"] == "day"]
    first, today = (start + timedelta(hours=48)).date(), (start + timedelta(days=5)).date()
    span = range((today - first).days + 1)
    assert days == [(first + timedelta(days=i)).isoformat() for i in span]
    # The page: one people's bar per hour, the numbers in the table beside it.
    card = page[page.index('id="over-time"') :]
    clicks_hours = card[card.index('data-chart="clicks-hours"') :]
    clicks_hours = clicks_hours[: clicks_hours.index("</svg>")]
    assert clicks_hours.count('class="bar low"') == 48
    assert clicks_hours.count('class="bar high"') == 1  # the scanner's click, on top
    assert 'data-chart="opens-days"' not in card  # no open after the first 48 hours
    assert '<td class="num">1</td><td class="num">2</td><td class="num">1</td>' in card
    assert "Theo thời gian" in card and "an@example.com" not in card


def test_after_the_roll_up_only_days_remain_and_the_counts_stay(
    staff: FlaskClient, followed: dict
) -> None:
    start, campaign = followed["start"], followed["campaign"]
    later = start + timedelta(days=120)
    with time_machine.travel(later, tick=False):
        sign_in(staff, "tiepthi@example.com")
        before = _rows(staff, campaign)
        with unit_of_work():
            assert roll_up(later) == len(EVENTS)
        rows = _rows(staff, campaign)
        page = staff.get(f"/admin/campaigns/{campaign}?lang=en").get_data(as_text=True)
    assert _nonzero(rows, "clicks", "hour") == {} and _nonzero(rows, "opens", "hour") == {}
    humans = Counter(_day(start, h) for h, kind, who in EVENTS if kind == "click" and who is PHONE)
    machines = Counter(_day(start, h) for h, kind, who in EVENTS if who is SCANNER)
    daily = _nonzero(rows, "clicks", "day")
    assert {day: v[1] for day, v in daily.items()} == dict(humans)
    assert {day: v[2] for day, v in daily.items() if v[2]} == dict(machines)
    # Rolled up, a person counts once per day (and link): An on each day she clicked.
    assert {day: v[0] for day, v in daily.items()} == dict.fromkeys(humans, 1)
    assert _nonzero(rows, "opens", "day") == {_day(start, 1.1): (1, 1, 0, 1)}
    total = sum(int(r["total"]) for r in before)
    assert sum(int(r["total"]) for r in rows) == total == len(EVENTS)
    assert 'data-testid="hours-rolled-up"' in page and "Over time" in page


def test_the_csv_needs_the_campaign_permission_and_names_nobody(
    app: Flask, staff: FlaskClient, followed: dict
) -> None:
    answer = staff.get(f"/admin/campaigns/{followed['campaign']}/engagement-over-time.csv")
    assert answer.status_code in (302, 401, 403) and "series" not in answer.get_data(as_text=True)
    sign_in(staff, "tiepthi@example.com")
    body = staff.get(f"/admin/campaigns/{followed['campaign']}/engagement-over-time.csv")
    text = body.get_data(as_text=True)
    assert "an@example.com" not in text and "Nguyễn" not in text
    assert staff.get("/admin/campaigns/999999/engagement-over-time.csv").status_code == 404
