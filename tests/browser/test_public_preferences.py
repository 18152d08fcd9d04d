"""Preference center, sign-up with double opt-in, receipts and privacy requests on a phone."""

from __future__ import annotations

import json
import re
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from notifier.contacts import consent_ledger as consent
from notifier.contacts.contacts import find_by_email
from notifier.domain.consent_rules import ConsentStatus
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import PrivacyRequest
from tests.browser.conftest import screenshot
from tests.conftest import configure
from tests.integration.helpers import drain, make_contact
from tests.integration.public_helpers import preferences_token
from tests.smtp_server import SmtpTestServer


def _mail_link(app: Flask, server: SmtpTestServer, path: str) -> str:
    configure(app, SMTP_URL=server.url)
    drain(app)
    for received in reversed(server.messages):
        message = message_from_bytes(received.data, policy=default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        found = re.search(rf"(http://\S+{path}\S+)", text)
        if found:
            return found.group(1)
    raise AssertionError(f"no mail with a {path} link")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_preference_toggle_with_double_opt_in(
    app: Flask, live_server: str, phone_page: Any, lang: str
) -> None:
    contact_id = make_contact("lan@example.com", grants=("promotions",), locale=lang)
    events = profile().purpose("events").name.get(lang)
    tab = phone_page
    tab.goto(f"{live_server}/p/{preferences_token(contact_id)}")
    screenshot(tab, f"public-preferences-{lang}")
    promotions = tab.get_by_role("checkbox", name=profile().purpose("promotions").name.get(lang))
    assert promotions.is_checked()
    tab.get_by_role("checkbox", name=events).check()
    with SmtpTestServer() as server:
        save = "Lưu lựa chọn" if lang == "vi" else "Save choices"
        tab.get_by_role("button", name=save).click()
        banner = tab.get_by_role("status").inner_text()
        assert ("email xác nhận" if lang == "vi" else "confirmation email") in banner
        assert consent.states(contact_id)["events"] is ConsentStatus.PENDING
        screenshot(tab, f"public-preferences-saved-{lang}")
        tab.goto(_mail_link(app, server, "/confirm/"))
    confirm = "Xác nhận đăng ký" if lang == "vi" else "Confirm subscription"
    tab.get_by_role("button", name=confirm).click()
    assert events in tab.locator("main").inner_text()
    assert consent.states(contact_id)["events"] is ConsentStatus.GRANTED


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_sign_up_with_double_opt_in(
    app: Flask, live_server: str, phone_page: Any, lang: str
) -> None:
    tab = phone_page
    tab.goto(f"{live_server}/subscribe?lang={lang}")
    tab.get_by_label("Email", exact=True).fill("moi@example.com")
    tab.get_by_label("Họ và tên (không bắt buộc)" if lang == "vi" else "Name (optional)").fill(
        "Mai"
    )
    promotions = profile().purpose("promotions").name.get(lang)
    box = tab.get_by_role("checkbox", name=promotions)
    assert not box.is_checked()
    box.check()
    screenshot(tab, f"public-subscribe-{lang}")
    with SmtpTestServer() as server:
        tab.get_by_role("button", name="Đăng ký" if lang == "vi" else "Subscribe").click()
        # wait_for, not is_visible: the click's page may not have arrived yet.
        tab.get_by_role("status").wait_for(state="visible")
        screenshot(tab, f"public-subscribe-sent-{lang}")
        link = _mail_link(app, server, "/confirm/")
    contact = find_by_email("moi@example.com")
    assert contact is not None
    assert consent.states(contact.id)["promotions"] is ConsentStatus.PENDING
    tab.goto(link)
    tab.get_by_role(
        "button", name="Xác nhận đăng ký" if lang == "vi" else "Confirm subscription"
    ).click()
    tab.get_by_role("status").wait_for(state="visible")  # the answer to the POST, committed
    assert promotions in tab.locator("main").inner_text()
    screenshot(tab, f"public-subscribe-confirmed-{lang}")
    contact_id = contact.id
    db.session.rollback()  # a fresh snapshot: the live server committed the grant
    assert consent.states(contact_id)["promotions"] is ConsentStatus.GRANTED


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_receipt_download(app: Flask, live_server: str, phone_page: Any, lang: str) -> None:
    contact_id = make_contact("hoa@example.com", grants=("events",), locale=lang)
    tab = phone_page
    tab.goto(f"{live_server}/p/{preferences_token(contact_id)}/history")
    screenshot(tab, f"public-history-{lang}")
    tab.get_by_role("link", name="Xem biên nhận" if lang == "vi" else "View receipt").click()
    screenshot(tab, f"public-receipt-{lang}")
    with tab.expect_download() as info:
        tab.get_by_role(
            "link", name="Tải biên nhận" if lang == "vi" else "Download receipt"
        ).click()
    saved = Path(info.value.path()).read_text("utf-8")
    # The grant was shown in Vietnamese (helpers.web_grant): the receipt keeps that exact text.
    assert profile().purpose("events").notice.vi in saved


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_each_privacy_request(app: Flask, live_server: str, phone_page: Any, lang: str) -> None:
    contact_id = make_contact(
        "minh@example.com", grants=("promotions",), phone="0901234567", locale=lang
    )
    page_url = f"{live_server}/p/{preferences_token(contact_id)}/privacy"
    tab = phone_page
    tab.goto(page_url)
    screenshot(tab, f"public-privacy-{lang}")
    ask = {"vi": "Gửi liên kết tải dữ liệu tới email của tôi", "en": "Email me a download link"}

    with SmtpTestServer() as server:
        tab.get_by_role("button", name=ask[lang]).click()
        tab.get_by_role("status").wait_for(state="visible")  # the click's page may lag
        tab.goto(_mail_link(app, server, "/v/export/"))
    with tab.expect_download() as info:
        tab.get_by_role(
            "button", name="Tải dữ liệu (JSON)" if lang == "vi" else "Download data (JSON)"
        ).click()
    data = json.loads(Path(info.value.path()).read_text("utf-8"))
    assert data["contact"]["phone"] == "0901234567"

    words = {
        "vi": (
            "Nội dung khiếu nại",
            "Gửi khiếu nại",
            "Yêu cầu hạn chế xử lý",
            "Gửi liên kết xác nhận xóa dữ liệu tới email của tôi",
            "Yêu cầu xóa dữ liệu",
        ),
        "en": (
            "Your complaint",
            "Send complaint",
            "Restrict processing",
            "Email me a link to confirm erasure",
            "Ask to erase my data",
        ),
    }[lang]
    tab.goto(page_url)
    tab.get_by_label(words[0]).fill("Tôi vẫn nhận email sau khi hủy.")
    tab.get_by_role("button", name=words[1]).click()
    assert "#" in tab.get_by_role("status").inner_text()
    screenshot(tab, f"public-privacy-done-{lang}")
    tab.goto(page_url)
    tab.get_by_role("button", name=words[2], exact=True).click()
    tab.get_by_role("status").wait_for(state="visible")  # the click's page may lag
    tab.goto(page_url)
    with SmtpTestServer() as server:
        tab.get_by_role("button", name=words[3], exact=True).click()
        tab.goto(_mail_link(app, server, "/v/erasure/"))
    tab.get_by_role("button", name=words[4], exact=True).click()
    tab.get_by_role("status").wait_for(state="visible")  # the click's page may lag
    kinds = sorted(r.kind for r in db.session.scalars(db.select(PrivacyRequest)))
    assert kinds == ["complaint", "erasure", "export", "restriction"]
