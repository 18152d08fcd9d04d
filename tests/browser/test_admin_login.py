"""The admin sign-in page in a real browser: Vietnamese first, a wrong password refused.

A marketing account: its role asks for no second factor (tests/browser/test_two_factor.py has
the admin's enrolment and code pages)."""

from __future__ import annotations

from typing import Any

from notifier.operations.staff import create_staff
from tests.browser.conftest import screenshot
from tests.integration.helpers import committed


def test_staff_sign_in_and_out(app: Any, live_server: str, page: Any) -> None:
    with committed():
        _, password = create_staff("admin@example.com", "marketing", name="Quản trị")
    page.goto(f"{live_server}/admin/login")
    assert page.locator("h1").inner_text() == "Đăng nhập"
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Mật khẩu").fill("wrong password")
    page.get_by_role("button", name="Đăng nhập").click()
    assert "không đúng" in page.get_by_role("alert").inner_text()
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server}/admin/")
    assert "Quản trị" in page.locator("h1").inner_text()
    screenshot(page, "admin-home")
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(f"{live_server}/admin/login")
