"""Journeys of the people around one started product: marketer, customer, billing system.

Each test uses its own demo contacts and reads only the mail that arrived since it began, so the
tests share the product (worker and scheduler running) without depending on each other's order.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

import pytest

from tests.acceptance.conftest import Product
from tests.acceptance.journeys import (
    PROMOTIONS,
    campaign_done,
    create_campaign,
    create_template,
    mail_to,
    parse,
    run_campaign,
    schedule_now,
    staff_session,
    text_of,
    wait_until,
    with_workers,
)
from tests.acceptance.visitor import Visitor
from tests.smtp_server import SmtpTestServer

CONFIRMATION = {"vi": "Xác nhận từ chối nhận email"}
# Contacts a test in this module withdrew from promotions: later campaigns must skip them.
withdrawn: set[str] = set()


@pytest.fixture(scope="module")
def product(module_product: Product) -> Product:
    return with_workers(module_product)


@pytest.fixture(scope="module")
def staff(product: Product) -> Visitor:
    return staff_session(product, "ha.marketing@example.com")


def _campaign(product: Product, staff: Visitor, sink: SmtpTestServer, name: str) -> list[str]:
    """Run a campaign to its end; who it reached, in the order the sink received them."""
    since = len(sink.messages)
    campaign = run_campaign(product, staff, name)
    wait_until(lambda: campaign_done(staff, campaign), f"campaign {name} is sent")
    expected = len(PROMOTIONS - withdrawn)
    wait_until(lambda: len(sink.messages) - since >= expected, "the campaign is at the sink")
    return [r for m in sink.messages[since:] for r in m.rcpt_tos]


def _link(message: EmailMessage, kind: str) -> str:
    found = re.search(rf"(http://127\.0\.0\.1:\d+/{kind}/[^\s>\"]+)", text_of(message))
    assert found, text_of(message)
    return found[1]


def _subscribed(visitor: Visitor, preferences_url: str) -> set[str]:
    page = visitor.get(preferences_url).body
    tags = re.findall(r'<input type="checkbox" name="purpose"[^>]*>', page)
    assert tags, page
    return {re.findall(r'value="(\w+)"', t)[0] for t in tags if " checked" in t}


def test_the_marketer_schedules_a_campaign_that_reaches_each_consenting_contact_once(
    product: Product, staff: Visitor, module_sink: SmtpTestServer
) -> None:
    since = len(module_sink.messages)
    campaign = run_campaign(product, staff, "Khuyến mãi tháng 6")
    wait_until(lambda: campaign_done(staff, campaign), "the campaign is sent")
    expected = PROMOTIONS - withdrawn
    wait_until(lambda: len(module_sink.messages) - since >= len(expected), "mail at the sink")

    received = [(m.rcpt_tos, parse(m.data)) for m in module_sink.messages[since:]]
    assert sorted(r for rcpt, _ in received for r in rcpt) == sorted(expected)
    for _, message in received:
        assert str(message["Subject"]).startswith("[QC] "), message["Subject"]
        assert "<http://127.0.0.1:" in str(message["List-Unsubscribe"])
        assert "mailto:" in str(message["List-Unsubscribe"])
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    report = staff.get(f"/admin/campaigns/{campaign}")
    assert report.status == 200 and "Khuyến mãi tháng 6" in report.body
    exported = staff.get(f"/admin/campaigns/{campaign}/report.csv")
    assert exported.status == 200 and "text/csv" in exported.headers["Content-Type"]
    rows = list(csv.DictReader(io.StringIO(exported.body.lstrip("\ufeff"))))
    assert {r["email"] for r in rows if r["status"] == "sent"} == expected, rows
    assert all(r["smtp_code"] == "250" for r in rows if r["status"] == "sent"), rows


# The other built-in layouts, their DCNET purposes and the sample field each subject names. A
# renewal campaign reads each customer's own subscriptions, never the sample:
# tests/acceptance/test_subscriptions_journey.py is its journey (billing's data, then the mail).
OTHER_LAYOUTS = [("event", "events", "event_name")]


@pytest.mark.parametrize(("layout", "purpose", "title"), OTHER_LAYOUTS)
def test_the_marketer_sends_a_campaign_from_each_other_built_in_layout(
    product: Product,
    staff: Visitor,
    module_sink: SmtpTestServer,
    layout: str,
    purpose: str,
    title: str,
) -> None:
    """Issue #14: the event layout failed on its own sample and ended 11 of 11 failed. A template
    from each layout, a campaign with the sample data the page offers, delivered and reported."""
    since = len(module_sink.messages)
    name = f"Chiến dịch mẫu {layout}"
    create_template(staff, f"Mẫu {name}", layout, purpose)
    campaign, review = create_campaign(staff, name, f"Mẫu {name}", kind=layout, purpose=purpose)
    schedule_now(staff, campaign, review)
    wait_until(lambda: campaign_done(staff, campaign), f"the {layout} campaign is sent")
    exported = staff.get(f"/admin/campaigns/{campaign}/report.csv")
    rows = list(csv.DictReader(io.StringIO(exported.body.lstrip("\ufeff"))))
    sent = {r["email"] for r in rows if r["status"] == "sent"}
    assert sent and not [r for r in rows if r["status"] == "failed"], rows
    offered = staff.get(f"/admin/campaigns/sample-data?kind={layout}").body
    sample = json.loads(html.unescape(offered))
    titles = (sample["vi"][title], sample["en"][title])

    def ours() -> list[EmailMessage]:
        found = [parse(m.data) for m in module_sink.messages[since:]]
        return [m for m in found if any(t in str(m["Subject"]) for t in titles)]

    wait_until(lambda: len(ours()) >= len(sent), f"the {layout} mail at the sink")
    assert sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in ours()) == sorted(sent)
    for message in ours():
        assert str(message["Subject"]).startswith("[QC] ") is (layout == "event")
        if layout == "event":
            (invite,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
            assert invite.get_content_charset() == "utf-8"
    report = staff.get(f"/admin/campaigns/{campaign}")
    assert report.status == 200 and name in report.body


def test_the_customer_turns_a_purpose_off_and_downloads_their_data(
    product: Product, staff: Visitor, module_sink: SmtpTestServer
) -> None:
    """The preference page from a confirmation's link, then the export through a one-time link.

    No advertising campaign here: the module's campaigns already use up most of the 24-hour cap.
    """
    person_address = "huong.ngo@example.org"
    listing = staff.get(f"/admin/contacts?q={person_address}")
    found = re.search(r'href="/admin/contacts/(\d+)"', listing.body)
    assert found, listing.body[:3000]
    since = len(module_sink.messages)
    page = staff.get(f"/admin/contacts/{found[1]}")
    # Staff take a phone refusal of the sales team's calls; its confirmation carries the link.
    staff.submit(page, f"/admin/contacts/{found[1]}/refusal", {"purposes": "sales_contact"})
    wait_until(lambda: mail_to(module_sink, person_address, since), "the refusal confirmation")
    [confirmation] = mail_to(module_sink, person_address, since)
    preferences = _link(confirmation, "p")
    person = Visitor(product.base_url)
    before = _subscribed(person, preferences)
    # A contract purpose is on until refused, with no consent recorded; the phone refusal shows.
    assert "promotions" in before and "renewal" in before and "sales_contact" not in before
    page = person.get(preferences)
    path = urllib.request.urlparse(preferences).path
    saved = person.submit(page, f"{path}/choices", {"purpose": sorted(before - {"renewal"})})
    assert saved.status == 200 and "Đã lưu lựa chọn" in saved.body, saved.body[:2000]
    assert _subscribed(person, preferences) == before - {"renewal"}

    mark = len(module_sink.messages)
    privacy = person.get(f"{preferences}/privacy")
    asked = person.submit(privacy, f"{path}/verify/export")
    assert asked.status == 200, asked.body[:2000]

    def links() -> list[str]:
        found = [re.search(r"http://127\.0\.0\.1:\d+/v/export/[^\s>\"]+", text_of(m))
                 for m in mail_to(module_sink, person_address, mark)]  # fmt: skip
        return [f[0] for f in found if f]

    wait_until(links, "the download link")
    [link] = links()
    shown = person.get(link)  # a button, not the download: mail scanners open links
    assert shown.status == 200 and "application/json" not in shown.headers["Content-Type"]
    download = person.submit(shown, urllib.request.urlparse(link).path)
    assert download.status == 200 and "application/json" in download.headers["Content-Type"]
    data = json.loads(download.body)
    text = json.dumps(data, ensure_ascii=False)
    assert person_address in text and "withdraw" in text and "phone" in text
    assert "sales_contact" in text and "renewal" in text
    # One use only.
    assert person.submit(shown, urllib.request.urlparse(link).path).status == 410


def test_a_visitor_signs_up_confirms_and_is_welcomed_once(
    product: Product, module_sink: SmtpTestServer
) -> None:
    """The sign-up form, the link from the mail, then one welcome (docs/automations.md)."""
    address = "moi.dangky@example.com"
    person = Visitor(product.base_url)
    since = len(module_sink.messages)
    form = person.get("/subscribe")
    chosen = {"email": address, "name": "Lê Mới", "purpose": ["promotions", "events"]}
    sent = person.submit(form, "/subscribe", chosen)
    assert sent.status == 200 and "kiểm tra hộp thư" in sent.body, sent.body[:2000]
    wait_until(lambda: mail_to(module_sink, address, since), "the confirmation request")
    [request] = mail_to(module_sink, address, since)
    link = _link(request, "confirm")
    shown = person.get(link)  # a GET confirms nothing: mail scanners open links
    done = person.submit(shown, urllib.request.urlparse(link).path)
    assert done.status == 200 and "Đăng ký thành công" in done.body, done.body[:2000]
    wait_until(lambda: len(mail_to(module_sink, address, since)) >= 2, "the welcome")
    assert person.submit(shown, urllib.request.urlparse(link).path).status == 200  # again
    product.cli("worker", "--burst")  # a second welcome, if one were queued, would be out now
    mails = mail_to(module_sink, address, since)
    assert [str(m["Subject"]) for m in mails] == [
        "Xác nhận đăng ký nhận email",
        "Chào mừng bạn: đăng ký nhận email đã được xác nhận",
    ]
    welcome = text_of(mails[1])
    assert "Khuyến mãi và ưu đãi đặc biệt (Tối đa 2 email mỗi tuần)" in welcome
    assert "Sự kiện quan trọng của DCNET (Tối đa 1 email mỗi tuần)" in welcome
    assert "promotions" in _subscribed(person, _link(mails[1], "p"))


def test_the_customer_unsubscribes_by_link_and_by_one_click_and_reads_the_history(
    product: Product, staff: Visitor, module_sink: SmtpTestServer
) -> None:
    by_link, by_one_click = "tam.ho@example.com", "vinh.ta@example.net"
    since = len(module_sink.messages)
    _campaign(product, staff, module_sink, "Ưu đãi cuối tuần")
    [for_link] = mail_to(module_sink, by_link, since)
    [for_one_click] = mail_to(module_sink, by_one_click, since)
    person = Visitor(product.base_url)

    # By the link in the message: GET only shows a page, the POST of its form confirms.
    unsubscribe = _link(for_link, "u")
    shown = person.get(unsubscribe)
    assert shown.status == 200 and 'name="confirm"' in shown.body, shown.body[:2000]
    mark = len(module_sink.messages)
    confirmed = person.submit(shown, urllib.request.urlparse(unsubscribe).path)
    assert confirmed.status == 200, confirmed.body[:2000]
    withdrawn.add(by_link)

    # RFC 8058: the mail provider POSTs to the List-Unsubscribe URL, with no cookie and no token.
    header = str(for_one_click["List-Unsubscribe"])
    one_click = re.search(r"<(http://[^>]+)>", header)
    assert one_click, header
    provider = Visitor(product.base_url)
    answer = provider.post(one_click[1], [("List-Unsubscribe", "One-Click")])
    assert answer.status == 200, answer.body[:2000]
    withdrawn.add(by_one_click)

    for address in (by_link, by_one_click):
        wait_until(lambda a=address: mail_to(module_sink, a, mark), f"confirmation to {address}")
    product.cli("worker", "--burst")  # whatever else was queued has gone out by now
    for address in (by_link, by_one_click):
        [confirmation] = mail_to(module_sink, address, mark)
        assert confirmation["Subject"] == CONFIRMATION["vi"]
        preferences = _link(confirmation, "p")
        assert "promotions" not in _subscribed(person, preferences)
        history = person.get(f"{preferences}/history")
        latest = re.search(r'<li class="(\w+)">\s*<strong>([^<]+)</strong>', history.body)
        assert latest, history.body
        assert latest.groups() == ("withdraw", "Từ chối / rút lại: Khuyến mãi và ưu đãi đặc biệt")
    assert "Hủy một lần bấm" in person.get(f"{preferences}/history").body


# docs/api.md, section 2: the billing system's renewal notice, sent at once (no send_at).
RENEWAL = {
    "type": "renewal",
    "contact": {"external_ref": "KH-00815", "email": "an@example.com",
                "name": "Nguyễn Văn An", "locale": "vi"},
    "data": {"service_name": "Hosting Pro hoalan.vn", "account_ref": "KH-00815",
             "expires_on": "2026-08-15", "amount": 1250000, "currency": "VND",
             "renew_url": "https://dcnet.vn/gia-han/KH-00815", "brand": "DCNET"},
}  # fmt: skip


def _api(product: Product, key: str, path: str, body: object = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{product.base_url}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                 "Idempotency-Key": "renewal-KH-00815-2026-08"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _ensure_renewal_type(product: Product, staff: Visitor, key: str) -> None:
    """An operator adds the renewal notice type in the admin pages if the database lacks it."""
    status, types = _api(product, key, "/notice-types")
    assert status == 200, types
    if "renewal" in json.dumps(types):
        return
    editor = staff.get("/admin/templates/new?layout=renewal")
    saved = staff.submit(editor, "/admin/templates/new", {"name": "Gia hạn dịch vụ"})
    assert re.search(r"/admin/templates/\d+$", saved.url), saved.body[:3000]
    page = staff.get("/admin/notices")
    option = re.search(r'<option value="(\d+)"[^>]*>Gia hạn dịch vụ', page.body)
    assert option, page.body[:3000]
    added = staff.submit(
        page, "/admin/notices/types",
        {"key": "renewal", "name": "Gia hạn dịch vụ", "template_id": option[1]},
    )  # fmt: skip
    assert added.status == 200, added.body[:3000]
    assert "renewal" in json.dumps(_api(product, key, "/notice-types")[1])


def test_the_billing_system_sends_a_renewal_notice_through_the_api(
    product: Product, staff: Visitor, module_sink: SmtpTestServer
) -> None:
    created = product.cli("apikey", "create", "billing", "--scope", "notices")
    found = re.search(r"key: (\S+)", created)
    assert found, created
    key = found[1]
    _ensure_renewal_type(product, staff, key)
    since = len(module_sink.messages)

    status, accepted = _api(product, key, "/notices", RENEWAL)
    assert status == 202, accepted
    state: dict[str, Any] = {}

    def sent() -> bool:
        state.update(_api(product, key, f"/notices/{accepted['id']}")[1])
        return state.get("status") == "sent"

    wait_until(sent, "the notice is sent")
    assert state["smtp_code"] == 250, state
    [notice] = mail_to(module_sink, "an@example.com", since)
    assert (
        notice["Message-ID"] == state["message_id"] or state["message_id"] in notice["Message-ID"]
    )
    assert not str(notice["Subject"]).startswith("[QC]")  # service mail is not advertising
    assert "Hosting Pro hoalan.vn" in text_of(notice)
    assert _api(product, key, "/notices", RENEWAL)[0] == 202  # the same call again: a replay
    product.cli("worker", "--burst")
    assert len(mail_to(module_sink, "an@example.com", since)) == 1
