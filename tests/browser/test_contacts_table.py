"""The contacts list in Chromium: it fits a 1280 px screen with every field a role may see, shows
where each person stands per purpose in words, and stays usable on a 320 px phone (issue #14)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from notifier.contacts import consent_ledger as consent
from notifier.models import ConsentSource
from tests.browser.conftest import screenshot
from tests.browser.test_accessibility_layout import LONG, WIDTH_AT, _sign_in
from tests.integration.helpers import make_contact

# Sideways scroll inside the table's own box (the old table scrolled there, not the page).
TABLE_OVERFLOW = """() => { const w = document.querySelector('.table-wrap');
  return w.scrollWidth - w.clientWidth; }"""


def _contacts() -> list[int]:
    """A page of contacts with every field filled, long values included."""
    made = []
    for n in range(12):
        contact_id = make_contact(
            LONG if n == 0 else f"khach.hang.so.{n}@congty-thuong-mai-dich-vu.com.vn",
            grants=("promotions",) if n % 2 else (),
            name=f"Nguyễn Thị Thanh Hương Phòng Chăm Sóc Khách Hàng {n}",
            phone="+84 (0)28 3822 9999",
            address="Tầng 12, Tòa nhà Bitexco, 2 Hải Triều, Phường Bến Nghé, Quận 1, TP. HCM",
            organisation="Công ty TNHH Thương mại Dịch vụ Kỹ thuật Hoàng Gia",
            contact_person="Trần Văn Bình",
            national_id="079123456789",
            birth_date="1985-04-30",
            external_ref=f"KH-2026-000{n:03d}",
            contract_ends_on="2027-12-31",
            tags="vip, hanoi, doanh-nghiep-lon, gia-han-2027",
            time_zone="Asia/Ho_Chi_Minh",
        )
        made.append(contact_id)
    consent.withdraw(made[1], ["renewal"], consent.Evidence(source=ConsentSource.ONE_CLICK))
    return made


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN")
    yield context.new_page()
    context.close()


@pytest.fixture
def narrow(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True, locale="vi-VN"
    )
    yield context.new_page()
    context.close()


def test_the_contacts_table_fits_1280_px_with_a_consent_column(
    app: Flask, live_server: str, desktop: Any
) -> None:
    made = _contacts()
    _sign_in(desktop, live_server)
    desktop.goto(f"{live_server}/admin/contacts")
    screenshot(desktop, "admin-contacts-1280")
    assert desktop.evaluate(TABLE_OVERFLOW) <= 0
    assert desktop.evaluate(WIDTH_AT) <= 0
    headers = desktop.locator("table.contact-list thead th").all_inner_texts()
    assert len(headers) <= 6, headers
    assert "NHẬN THƯ" in [h.upper() for h in headers], headers
    # Per purpose, in words a screen reader reads and a tooltip shows, not colour alone.
    row = desktop.locator("tr", has=desktop.locator(f'a[href="/admin/contacts/{made[1]}"]'))
    states = row.locator(".standings li")
    assert states.count() == 4
    spoken = " | ".join(" ".join(t.split()) for t in states.all_text_contents())
    assert "Khuyến mãi và ưu đãi đặc biệt: Đang nhận" in spoken, spoken
    assert "Thông báo gia hạn và thông tin dịch vụ: Không nhận" in spoken, spoken
    assert "Liên hệ hỗ trợ từ bộ phận kinh doanh: Đang nhận" in spoken, spoken  # contract basis
    marks = row.locator(".standings .mark").all_inner_texts()
    assert sorted(set(marks)) == ["✓", "✕"], marks
    # The rest is on the contact's own page, one click away.
    desktop.locator(f'a[href="/admin/contacts/{made[1]}"]').first.click()
    assert "Bitexco" in desktop.locator("main").inner_text()


def test_the_contacts_list_is_usable_on_a_320_px_phone(
    app: Flask, live_server: str, narrow: Any
) -> None:
    made = _contacts()
    _sign_in(narrow, live_server)
    narrow.goto(f"{live_server}/admin/contacts")
    screenshot(narrow, "admin-contacts-320")
    assert narrow.evaluate(WIDTH_AT) <= 0
    assert narrow.evaluate(TABLE_OVERFLOW) <= 0
    # Each row is a card: the name link, its fields with labels, and its states, all on screen.
    link = narrow.locator(f'a[href="/admin/contacts/{made[0]}"]').first
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 320
    card = narrow.locator("tr", has=link)
    assert "+84 (0)28 3822 9999" in card.inner_text()
    label = card.locator("td").first.evaluate("el => getComputedStyle(el, '::before').content")
    assert "Điện thoại" in label, label
    for state in card.locator(".standings li").all():
        spot = state.bounding_box()
        assert spot is not None and spot["x"] + spot["width"] <= 320
