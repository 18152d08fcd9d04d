"""Layout and contrast a person sees: large text on a small phone, a 320 px admin, focus rings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask

from notifier.infra.extensions import db
from notifier.models import ConsentEvent
from notifier.operations.staff import create_staff
from tests.browser.conftest import screenshot
from tests.integration.helpers import committed, make_contact
from tests.integration.public_helpers import preferences_token, unsubscribe_token

# A real address can be this long (64-character local part) and has no place to break.
LONG = (
    "nguyen.thi.thanh.huong.phong.cham.soc.khach.hang.chi.nhanh.ha.noi"
    "@congty-thuong-mai-dich-vu.com.vn"
)
WIDTH_AT = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two CSS rgb()/rgba() colours."""

    def luminance(colour: str) -> float:
        red, green, blue = (int(v) / 255 for v in re.findall(r"[\d.]+", colour)[:3])
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                  for c in (red, green, blue)]  # fmt: skip
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# The colour behind the focused element: its parent's, or the nearest ancestor's that has one.
BEHIND = """el => {
  for (let node = el.parentElement; node; node = node.parentElement) {
    const colour = getComputedStyle(node).backgroundColor;
    if (colour !== 'rgba(0, 0, 0, 0)' && colour !== 'transparent') return colour;
  }
  return 'rgb(255, 255, 255)';
}"""


@pytest.fixture
def small(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="vi-VN")
    yield context.new_page()
    context.close()


@pytest.fixture
def narrow(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True, locale="vi-VN"
    )
    yield context.new_page()
    context.close()


def _public_pages(live_server: str) -> dict[str, str]:
    contact_id = make_contact(LONG, grants=("promotions",), name="Nguyễn Thị Thanh Hương")
    event_id = db.session.scalar(
        db.select(ConsentEvent.id).where(ConsentEvent.contact_id == contact_id)
    )
    token = preferences_token(contact_id)
    return {
        "unsubscribe": f"{live_server}/u/{unsubscribe_token(contact_id, 'promotions')}",
        "preferences": f"{live_server}/p/{token}",
        "subscribe": f"{live_server}/subscribe",
        "receipt": f"{live_server}/p/{token}/receipt/{event_id}",
    }


def _sign_in(tab: Any, live_server: str) -> None:
    with committed():
        _, password = create_staff("admin@example.com", "admin", name="Quản trị")
    tab.goto(f"{live_server}/admin/login")
    tab.get_by_label("Email").fill("admin@example.com")
    tab.get_by_label("Mật khẩu").fill(password)
    tab.get_by_role("button", name="Đăng nhập").click()
    # The admin role enrols a second factor at first sign-in: the key typed into an app.
    tab.wait_for_url(f"{live_server}/admin/two-factor/enrol")
    key = tab.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    tab.locator("#code").fill(pyotp.TOTP(key).now())
    tab.locator("#code").press("Enter")
    tab.wait_for_load_state()
    tab.goto(f"{live_server}/admin/")
    tab.wait_for_url(f"{live_server}/admin/")


def test_public_pages_at_150_percent_text_on_a_360_px_phone_do_not_scroll_sideways(
    app: Flask, live_server: str, small: Any
) -> None:
    for name, url in _public_pages(live_server).items():
        small.goto(url)
        if name == "subscribe":
            small.locator("input[type=email]").first.fill(LONG)
        small.evaluate("document.documentElement.style.fontSize = '150%'")
        screenshot(small, f"a11y-150-{name}")
        assert small.evaluate(WIDTH_AT) <= 0, name


def test_admin_pages_fit_a_320_px_screen(app: Flask, live_server: str, narrow: Any) -> None:
    _sign_in(narrow, live_server)
    pages = ("/admin/", "/admin/contacts", "/admin/staff", "/admin/settings", "/admin/notices",
             "/admin/notices/types/renewal/reminders")  # fmt: skip
    for path in pages:
        narrow.goto(f"{live_server}{path}")
        assert narrow.evaluate(WIDTH_AT) <= 0, path
        box = narrow.get_by_role("button", name="Đăng xuất").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320, path
    screenshot(narrow, "a11y-admin-320")


def _focus_ratios(tab: Any, steps: int) -> list[tuple[str, float]]:
    found = []
    for _ in range(steps):
        tab.keyboard.press("Tab")
        focused = tab.evaluate_handle("document.activeElement")
        style = focused.evaluate(
            "el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineColor,"
            " el.outerHTML.slice(0, 80)]"
        )
        if style[0] == "none":
            continue
        found.append((style[2], contrast(style[1], focused.evaluate(BEHIND))))
    return found


def test_focus_rings_have_3_to_1_against_what_they_sit_on(
    app: Flask, live_server: str, small: Any, page: Any
) -> None:
    pages = _public_pages(live_server)
    small.goto(pages["preferences"])
    public = _focus_ratios(small, 12)
    _sign_in(page, live_server)
    admin = _focus_ratios(page, 25)
    assert len(public) >= 5 and len(admin) >= 15
    weak = [(html, round(ratio, 2)) for html, ratio in public + admin if ratio < 3]
    assert not weak, weak


def test_the_pressed_language_button_on_the_sign_in_page_is_readable(
    app: Flask, live_server: str, page: Any
) -> None:
    page.goto(f"{live_server}/admin/login")
    pressed = page.locator(".lang button[aria-pressed=true]")
    colours = pressed.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
    )
    assert contrast(*colours) >= 4.5, colours
    assert pressed.get_attribute("lang") == "vi"
