"""An event campaign's report counts its standing RSVPs (admin page and API) and lists who
registered as CSV, with the contact columns the role may see; other kinds show no count."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.campaigns import rsvps
from notifier.domain.rsvp import rsvp_token
from notifier.infra.context import token_secret
from notifier.privacy.requests import Requester, erase_now
from tests.integration.helpers import committed, drain, make_contact, start_campaign
from tests.integration.rsvp_steps import event_campaign
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.integration.test_api_support import bearer, conforms, issue_key
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def campaign(app: Flask, smtp: SmtpTestServer) -> int:
    """Invited: An and Bea registered, Chi registered then cancelled, Dung registered and was
    erased, Em only invited."""
    people = [make_contact(f"{n}@example.com", grants=("events",), name=n.title())
              for n in ("an", "bea", "chi", "dung", "em")]  # fmt: skip
    campaign_id = event_campaign(datetime.now(UTC) + timedelta(days=5))
    drain(app)
    now = datetime.now(UTC)
    with committed():
        for person in people[:4]:
            rsvps.register(rsvp_token(token_secret(), campaign_id, person), now)
        rsvps.cancel(rsvp_token(token_secret(), campaign_id, people[2]), now)
        erase_now(people[3], Requester(ip=None, user_agent=None, locale="vi"), "test")
    return campaign_id


@pytest.fixture
def staff(app: Flask) -> FlaskClient:
    client = browser(app)
    make_staff("tiepthi@example.com", "marketing")
    sign_in(client, "tiepthi@example.com")
    return client


def test_the_report_counts_standing_rsvps_and_lists_them(staff: FlaskClient, campaign: int) -> None:
    page = staff.get(f"/admin/campaigns/{campaign}").get_data(as_text=True)
    card = page[page.index('id="rsvps"') :]
    assert "Đăng ký tham dự" in card and '<p class="big-number">2</p>' in card
    answer = staff.get(f"/admin/campaigns/{campaign}/rsvps.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["email"], r["name"], r["reminded_at"]) for r in rows] == [
        ("an@example.com", "An", ""), ("bea@example.com", "Bea", ""),
    ]  # fmt: skip


def test_the_api_campaign_report_has_the_count(app: Flask, campaign: int) -> None:
    client = app.test_client()
    response = client.get(f"/api/v1/campaigns/{campaign}", headers=bearer(issue_key()))
    assert response.status_code == 200
    assert conforms(response, "get", "/campaigns/{campaign_id}")["rsvps"] == 2


def test_other_campaigns_show_no_rsvp_count(
    app: Flask, staff: FlaskClient, smtp: SmtpTestServer
) -> None:
    make_contact("an@example.com", grants=("promotions",))
    promotion = start_campaign("promotion", "promotions")
    drain(app)
    assert 'id="rsvps"' not in staff.get(f"/admin/campaigns/{promotion}").get_data(as_text=True)
    response = app.test_client().get(f"/api/v1/campaigns/{promotion}", headers=bearer(issue_key()))
    assert response.get_json()["rsvps"] is None


def test_the_list_needs_the_permission(app: Flask, campaign: int) -> None:
    anonymous = browser(app)
    answer = anonymous.get(f"/admin/campaigns/{campaign}/rsvps.csv")
    assert answer.status_code in (302, 401, 403)
    assert "an@example.com" not in answer.get_data(as_text=True)
