"""The enrolment and code pages in Chromium: an admin's first sign-in, then a recovery code."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from flask import Flask

from notifier.operations.staff import create_staff
from tests.browser.conftest import screenshot
from tests.integration.helpers import committed
from tests.integration.test_admin_support import PASSWORD


def _password(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()


def test_an_admin_enrols_with_the_qr_page_then_signs_in_with_a_recovery_code(
    app: Flask, live_server: str, page: Any
) -> None:
    with committed():  # the live server reads it from its own connection
        create_staff("admin@example.com", "admin", name="Lê Quản Trị", password=PASSWORD)
    _password(page, live_server)
    page.wait_for_url(f"{live_server}/admin/two-factor/enrol")
    assert page.locator("h1").inner_text() == "Bật xác thực hai bước"
    qr = page.get_by_role("img", name="Mã QR để thêm tài khoản vào ứng dụng xác thực")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # it really draws
    screenshot(page, "admin-two-factor-enrol")
    # Nothing else opens before the code is confirmed.
    page.goto(f"{live_server}/admin/contacts")
    page.wait_for_url(re.compile(r"/admin/login\?next="))
    _password(page, live_server)
    page.wait_for_url(f"{live_server}/admin/two-factor/enrol")

    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Mã 6 chữ số ứng dụng hiển thị").fill("000000")
    page.get_by_role("button", name="Bật xác thực hai bước").click()
    if pyotp.TOTP(secret).verify("000000", valid_window=1):  # one chance in a few hundred
        return
    assert "không đúng" in page.get_by_role("alert").inner_text()
    page.get_by_label("Mã 6 chữ số ứng dụng hiển thị").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Bật xác thực hai bước").click()
    page.get_by_role("heading", name="Lưu các mã khôi phục").wait_for()
    codes = page.get_by_test_id("recovery-codes").locator("li").all_inner_texts()
    assert len(codes) == 10
    screenshot(page, "admin-two-factor-codes")
    page.get_by_role("link", name="Tôi đã lưu các mã, tiếp tục").click()
    page.wait_for_url(f"{live_server}/admin/")
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(f"{live_server}/admin/login")

    _password(page, live_server)
    page.wait_for_url(f"{live_server}/admin/two-factor")
    page.get_by_label("Mã xác thực").fill(codes[0])
    page.get_by_role("button", name="Xác nhận").click()
    page.wait_for_url(f"{live_server}/admin/")
    assert "Lê Quản Trị" in page.locator(".who").inner_text()
