"""A customer who agreed to a notice disclosing click tracking follows a link of the promotion
that reached the SMTP server: gunicorn, worker and scheduler as separate processes; the tracked
link redirects to the campaign's destination and the click appears in the campaign's CSV, in its
hour of the chart and in the comparison of the last campaigns; the person's engagement shows to
the admin only, marketing gets 403."""

from __future__ import annotations

import csv
import html
import io
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import LocalDns, Product, started
from tests.acceptance.journeys import (
    mail_to,
    staff_session,
    wait_until,
    web_form_consent,
    with_workers,
)
from tests.acceptance.test_subscriptions_journey import key_for, posted
from tests.acceptance.test_web_view_journey import html_of
from tests.acceptance.visitor import Visitor
from tests.smtp_server import SmtpTestServer

CUSTOMER = "khach.theodoi@example.com"
PREFETCH_SECONDS = 2  # shorter than the default, so the journey need not wait long
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def tracked_profile(folder: Path) -> Path:
    """dcnet whose promotions notice (version 1, the one the API's consent names) discloses
    click tracking."""
    text = Path("config/profiles/dcnet.toml").read_text(encoding="utf-8")
    anchor = 'list_id = "promotions.dcnet.example"'
    assert text.count(anchor) == 1
    disclosed = 'tracking = { clicks = true, opens = true, notice_versions = ["1"] }'
    path = folder / "tracked.toml"
    path.write_text(text.replace(anchor, f"{anchor}\n{disclosed}"), encoding="utf-8")
    return path


@pytest.fixture
def product(
    tmp_path: Path, redis_url: str, dns: LocalDns, sink: SmtpTestServer
) -> Iterator[Product]:
    settings = {
        "NOTIFIER_PROFILE": str(tracked_profile(tmp_path)),
        "NOTIFIER_TRACKING_PREFETCH_SECONDS": str(PREFETCH_SECONDS),
    }
    with started(tmp_path, redis_url, dns, sink, settings) as running:
        yield running


def test_a_tracked_link_redirects_and_its_click_is_counted(
    product: Product, sink: SmtpTestServer
) -> None:
    with_workers(product)
    key = key_for(product, "marketing", "contacts", "templates", "campaigns")
    customer = {
        "external_ref": "TR-1", "email": CUSTOMER, "name": "Trần Văn Bình", "locale": "vi",
        "tags": ["tracking"], "consents": [web_form_consent("promotions")],
    }  # fmt: skip
    posted(product, key, "/contacts", customer)
    layout = {"layout": "promotion", "name": "Khuyến mãi", "purpose": "promotions"}
    copied = posted(product, key, "/templates/from-layout", layout)
    campaign = posted(product, key, "/campaigns", {
        "name": "Ưu đãi theo dõi", "kind": "promotion", "purpose": "promotions",
        "template_id": copied["template"]["id"], "data": copied["sample_data"]["vi"],
        "audience": {"tags": ["tracking"]},
    })  # fmt: skip
    posted(product, key, f"/campaigns/{campaign['id']}/schedule", status=200)

    wait_until(lambda: mail_to(sink, CUSTOMER), "the promotion at the SMTP server", within=120)
    (mail,) = mail_to(sink, CUSTOMER)
    received = html_of(mail)
    base = re.escape(product.base_url)
    links = re.findall(r'href="(' + base + r'/t/c/[A-Za-z0-9_-]+)"', received)
    assert links, received
    assert re.search(r'src="' + base + r'/t/o/[A-Za-z0-9_-]+"', received)
    assert re.search(r'href="' + base + r'/u/[A-Za-z0-9_-]+"', received)  # never rewritten

    browser = urllib.request.build_opener(_Stay())
    time.sleep(PREFETCH_SECONDS + 1)  # past the prefetch window: a person's click
    request = urllib.request.Request(links[0], headers={"User-Agent": PHONE})
    try:
        browser.open(request, timeout=30)
        raise AssertionError("the tracked link must redirect")
    except urllib.error.HTTPError as answer:
        assert answer.code == 302
        destination = answer.headers["Location"]
    assert destination.startswith("https://") and not destination.startswith(product.base_url)
    forged = urllib.request.Request(links[0][:-2] + "AA", headers={"User-Agent": PHONE})
    try:
        browser.open(forged, timeout=30)
        raise AssertionError("a forged link must not redirect")
    except urllib.error.HTTPError as answer:
        assert answer.code == 404 and "Location" not in answer.headers

    staff = staff_session(product, "tiepthi@example.com", "marketing")
    report = staff.get(f"/admin/campaigns/{campaign['id']}/engagement.csv")
    assert report.status == 200, report.body[:1000]
    rows = list(csv.DictReader(io.StringIO(report.body)))
    values = {r["measure"]: r["value"] for r in rows if not r["link"]}
    assert (values["clicks"], values["unique_clicks"]) == ("1", "1")
    assert values["messages_with_tracked_links"] == "1"
    first = [r for r in rows if r["measure"] == "link_clicks" and r["link"] == "0"]
    assert first and first[0]["url"] == destination and first[0]["value"] == "1"
    over_time_and_comparison(staff, campaign["id"])
    found = staff.get(f"/admin/contacts?q={CUSTOMER}")
    ids = set(re.findall(r'href="/admin/contacts/(\d+)"', found.body))
    assert len(ids) == 1, found.body[:2000]
    only_with_the_permission(product, staff, int(ids.pop()), destination)


def over_time_and_comparison(staff: Visitor, campaign: int) -> None:
    """The click in its hour of the chart's CSV and on the page, the campaign in the comparison."""
    answer = staff.get(f"/admin/campaigns/{campaign}/engagement-over-time.csv")
    assert answer.status == 200, answer.body[:1000]
    rows = list(csv.DictReader(io.StringIO(answer.body)))
    clicked = [r for r in rows if r["series"] == "clicks" and r["human"] != "0"]
    assert [(r["granularity"], r["human"]) for r in clicked] == [("hour", "1")]
    page = staff.get(f"/admin/campaigns/{campaign}")
    assert 'data-chart="clicks-hours"' in page.body and "<caption>" in page.body
    compared = staff.get("/admin/campaigns/compare.csv?n=5")
    assert compared.status == 200, compared.body[:1000]
    (row,) = csv.DictReader(io.StringIO(compared.body))
    assert (row["campaign_id"], row["name"], row["unique_clicks"]) == (
        str(campaign),
        "Ưu đãi theo dõi",
        "1",
    )
    assert row["click_through_rate"] == "1.0000"
    refused = staff.get("/admin/campaigns/compare?n=51")
    assert refused.status == 400 and "từ 1 đến 50" in refused.body


def only_with_the_permission(
    product: Product, marketing: Visitor, contact: int, destination: str
) -> None:
    """Marketing (no contacts.engagement) sees no engagement on the contact page and gets 403;
    the admin (every permission) sees the click with its destination."""
    page = marketing.get(f"/admin/contacts/{contact}")
    assert page.status == 200 and 'id="engagement"' not in page.body
    assert marketing.get(f"/admin/contacts/{contact}/engagement").status == 403
    admin = staff_session(product, "quantri@example.com", "admin")
    page = admin.get(f"/admin/contacts/{contact}")
    assert 'id="engagement"' in page.body and "Ưu đãi theo dõi" in page.body
    full = admin.get(f"/admin/contacts/{contact}/engagement")
    assert full.status == 200 and html.escape(destination) in full.body
