"""The admin pages in Chromium: write a template, run a campaign, read the outbox, log a refusal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from notifier.infra.extensions import db
from notifier.processes.outbox import running_outbox
from tests.browser.conftest import screenshot as full_page
from tests.conftest import configure
from tests.integration.helpers import committed, drain, make_contact
from tests.integration.test_admin_support import PASSWORD, current_code, make_staff


def screenshot(page: Any, name: str) -> None:
    """From the top: a full-page capture of a scrolled page misplaces the sticky bars."""
    page.evaluate("window.scrollTo(0, 0)")
    full_page(page, name)


@pytest.fixture
def outbox(app: Flask, live_server: str) -> Iterator[str]:
    """The built-in outbox SMTP server, so sent mail lands where the outbox page reads it."""
    # The composer builds List-Unsubscribe only with https links (RFC 8058); the live server
    # is plain http, so the links in these messages name the test's https base instead.
    configure(app, PUBLIC_BASE_URL="https://notifier.test")
    with running_outbox(app, 0) as running:
        configure(app, SMTP_URL=running.url)
        yield running.url


def _sign_in(page: Any, live_server: str, email: str) -> None:
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(re.compile(r"/admin/(two-factor)?$"))
    if page.url.endswith("/two-factor"):
        # By id: the page follows the account's language, which a test may have switched.
        page.locator("#code").fill(current_code(email))
        page.locator("#code").press("Enter")
    page.wait_for_url(f"{live_server}/admin/")


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Menu chính").get_by_role("link", name=name).click()


def test_marketing_writes_a_template_runs_a_campaign_and_reads_the_outbox(
    app: Flask, live_server: str, page: Any, outbox: str
) -> None:
    make_staff("mkt@example.com", "admin", name="Nguyễn Thu Hà")
    lan = make_contact("lan@example.com", grants=("promotions",), name="Trần Thị Lan")
    make_contact("minh@example.com", grants=("promotions",), name="Phạm Minh")
    make_contact("khong@example.com", name="Không Đồng Ý")
    _sign_in(page, live_server, "mkt@example.com")

    _nav(page, "Mẫu email")
    screenshot(page, "admin-templates")
    page.get_by_role("link", name="+ Dùng bố cục này").first.click()
    page.get_by_label("Tên", exact=True).fill("Ưu đãi mùa hè")
    # exact: the English variant's field is "Tiêu đề tiếng Anh"
    page.get_by_label("Tiêu đề", exact=True).fill("Ưu đãi mùa hè cho {{ contact_name }}")
    subject = page.locator("[data-testid=preview-subject]")
    subject.filter(has_text="[QC] Ưu đãi mùa hè cho Nguyễn Văn An").wait_for()
    page.get_by_label("Nội dung (MJML)").fill("<mjml><mj-body>\n{{ broken }\n</mj-body></mjml>")
    page.locator("[data-testid=template-error]").filter(has_text="dòng 2").wait_for()
    screenshot(page, "admin-template-error")
    _nav(page, "Mẫu email")
    page.get_by_role("link", name="+ Dùng bố cục này").first.click()
    page.get_by_label("Tên", exact=True).fill("Ưu đãi mùa hè")
    page.get_by_role("button", name="Lưu phiên bản mới").click()
    page.get_by_text("Đã lưu phiên bản 1.").wait_for()
    screenshot(page, "admin-template-editor")

    _nav(page, "Chiến dịch")
    page.get_by_role("link", name="+ Chiến dịch mới").click()
    page.get_by_label("Tên", exact=True).fill("Khuyến mãi tháng 6")
    # The profile's shipped notice templates are listed too: pick the one just written.
    page.get_by_label("Mẫu email").select_option(label="Ưu đãi mùa hè (v1)")
    page.get_by_label("Mục đích").select_option("promotions")
    page.locator("[data-testid=eligible]").filter(has_text="2").wait_for()
    assert "Chưa đồng ý" in page.locator("#audience").inner_text()
    screenshot(page, "admin-campaign-new")
    page.get_by_role("button", name="Tạo và xem lại").click()
    page.get_by_text("Đã tạo chiến dịch").wait_for()
    page.get_by_role("button", name="Gửi thử").click()
    page.get_by_text("Đã gửi bản thử").wait_for()
    page.get_by_label("Tôi đã xem lại nội dung").check()
    screenshot(page, "admin-campaign-review")
    page.get_by_role("button", name="Xác nhận và lên lịch").click()
    page.get_by_text("Đã lên lịch chiến dịch.").wait_for()
    # A real RQ worker in this thread while the page polls the live server. This thread's
    # session may hold a read snapshot from before the page scheduled it: end it first.
    db.session.remove()
    drain(app)
    page.locator("[data-testid=percent]").filter(has_text="100%").wait_for(timeout=20_000)
    assert page.locator("[data-testid=count-sent]").inner_text() == "2"
    screenshot(page, "admin-campaign-progress")

    _nav(page, "Hộp thư đi")
    screenshot(page, "admin-outbox")
    page.locator("main table a").filter(has_text="[QC] (thử nghiệm/test)").click()
    page.get_by_role("heading", name="Tiêu đề kỹ thuật (headers)").wait_for()
    assert page.locator("iframe[sandbox='']").count() == 2
    assert "List-Unsubscribe" in page.locator("table.mail-headers").inner_text()
    screenshot(page, "admin-outbox-message")

    _nav(page, "Tổng quan")
    screenshot(page, "admin-dashboard")

    page.goto(f"{live_server}/admin/contacts/{lan}")
    timeline = page.get_by_role("list", name="Lịch sử đồng ý")
    assert "Đồng ý" in timeline.inner_text() and "Biểu mẫu web" in timeline.inner_text()
    page.get_by_label("Khuyến mãi", exact=False).first.check()
    page.get_by_label("Ghi chú").fill("Khách gọi hotline lúc 9:30")
    page.get_by_role("button", name="Ghi nhận từ chối").click()
    page.get_by_text("Đã ghi nhận từ chối").wait_for()
    assert "Rút lại đồng ý" in page.get_by_role("list", name="Lịch sử đồng ý").inner_text()
    screenshot(page, "admin-contact")
    _nav(page, "Liên hệ")
    screenshot(page, "admin-contacts")


@pytest.mark.parametrize("profile_name", ["caycanhhoanggia"])
def test_shipping_sees_name_phone_address_and_nothing_else(
    app: Flask, live_server: str, page: Any
) -> None:
    make_staff("ship@example.com", "shipping", name="Giao Hàng")
    contact = make_contact(
        "lan@example.com",
        grants=("product_info",),
        name="Trần Thị Lan",
        phone="0901 234 567",
        address="12 Lê Lợi, Quận 1",
        deal={"cost": "450000000"},
    )
    _sign_in(page, live_server, "ship@example.com")
    nav = page.get_by_role("navigation", name="Menu chính").inner_text()
    assert "Liên hệ" in nav and "Chiến dịch" not in nav and "Mẫu email" not in nav
    page.goto(f"{live_server}/admin/contacts/{contact}")
    text = page.locator("main").inner_text()
    assert "Trần Thị Lan" in text and "0901 234 567" in text and "12 Lê Lợi" in text
    for hidden in ("lan@example.com", "450000000", "Lịch sử đồng ý", "Đã đồng ý", "Đang nhận"):
        assert hidden not in page.content()
    screenshot(page, "admin-contact-shipping")
    response = page.goto(f"{live_server}/admin/campaigns")
    assert response.status == 403
    assert "không có quyền" in page.locator("h1").inner_text()


def test_the_other_pages_in_both_languages_and_on_a_phone(
    app: Flask, live_server: str, page: Any, phone_page: Any
) -> None:
    from notifier.privacy import requests as privacy

    make_staff("admin@example.com", "admin", name="Lê Quản Trị")
    contact = make_contact("an@example.com", grants=("promotions",), name="Nguyễn Văn An")
    with committed():
        privacy.complain(contact, "Tôi nhận quá nhiều thư", privacy.Requester("203.0.113.9", "UA"))
    _sign_in(page, live_server, "admin@example.com")
    for name, shot in (
        ("Yêu cầu dữ liệu cá nhân", "admin-privacy"),
        ("Thông báo gia hạn", "admin-notices"),
        ("Nhân viên và vai trò", "admin-staff"),
        ("Cài đặt", "admin-settings"),
        ("Nhật ký truy cập", "admin-audit"),
    ):
        _nav(page, name)
        page.get_by_role("heading", level=1).wait_for()
        screenshot(page, shot)
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Audit log").wait_for()
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Dashboard").click()
    screenshot(page, "admin-dashboard-en")
    _sign_in(phone_page, live_server, "admin@example.com")
    phone_page.goto(f"{live_server}/admin/contacts/{contact}")
    screenshot(phone_page, "admin-contact-phone")
