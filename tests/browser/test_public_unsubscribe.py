"""A real received campaign email's unsubscribe link, opened on a phone, in Vietnamese."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.policy import default
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from notifier.contacts import consent_ledger as consent
from notifier.domain.consent_rules import ConsentStatus
from tests.browser.conftest import screenshot
from tests.integration.helpers import drain, make_contact, start_campaign
from tests.smtp_server import SmtpTestServer


def test_unsubscribe_from_a_received_email(app: Flask, live_server: str, phone_page: Any) -> None:
    contact_id = make_contact("khach@example.com", grants=("promotions", "events"), name="Lan")
    with SmtpTestServer() as server:
        app.config["SMTP_URL"] = server.url
        # RFC 8058 wants https in the header: the campaign goes out with the production form of
        # the address, and the browser then opens the same path on the test server.
        app.config["PUBLIC_BASE_URL"] = "https://notifier.test"
        start_campaign("promotion", "promotions")
        drain(app)
        app.config["PUBLIC_BASE_URL"] = live_server
        [received] = server.messages
    message = message_from_bytes(received.data, policy=default)
    assert str(message["Subject"]).startswith("[QC]")
    header = str(message["List-Unsubscribe"])
    https_url = re.search(r"<(https://[^>]+)>", header).group(1)  # type: ignore[union-attr]
    tab = phone_page
    tab.goto(live_server + urlsplit(https_url).path)
    assert "Hủy nhận “Khuyến mãi và ưu đãi đặc biệt”?" in tab.locator("h1").inner_text()
    assert consent.states(contact_id)["promotions"] is ConsentStatus.GRANTED
    assert "CÔNG TY CỔ PHẦN VIỄN THÔNG DCNET" in tab.locator("footer").inner_text()
    screenshot(tab, "public-unsubscribe-confirm-vi")

    tab.get_by_role("button", name="Xác nhận hủy đăng ký").click()
    status = tab.get_by_role("status")
    assert "Đã hủy nhận “Khuyến mãi và ưu đãi đặc biệt”." in status.inner_text()
    states = tab.locator("ul.states").inner_text()
    assert re.search(r"Khuyến mãi và ưu đãi đặc biệt: Không nhận", states)
    assert re.search(r"Sự kiện quan trọng của DCNET: Đang nhận", states)
    screenshot(tab, "public-unsubscribe-done-vi")
    assert consent.states(contact_id)["promotions"] is ConsentStatus.WITHDRAWN
    assert consent.states(contact_id)["events"] is ConsentStatus.GRANTED


def test_unsubscribe_page_in_english_by_keyboard(
    app: Flask, live_server: str, phone_page: Any
) -> None:
    from tests.integration.public_helpers import unsubscribe_token

    contact_id = make_contact("guest@example.com", grants=("events",), locale="en")
    tab = phone_page
    tab.goto(f"{live_server}/u/{unsubscribe_token(contact_id, 'events')}")
    assert tab.locator("html").get_attribute("lang") == "en"
    tab.keyboard.press("Tab")  # the skip link comes first, then the page in order
    assert tab.evaluate("document.activeElement.textContent").strip() == "Skip to main content"
    tab.get_by_role("button", name="Confirm unsubscribe").focus()
    tab.keyboard.press("Enter")
    assert "You are unsubscribed" in tab.get_by_role("status").inner_text()
    screenshot(tab, "public-unsubscribe-done-en")
    assert consent.states(contact_id)["events"] is ConsentStatus.WITHDRAWN
