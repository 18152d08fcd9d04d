"""Form errors in Chromium as a keyboard or screen reader user meets them (issue #14: "MJML and
sign-up errors are not tied to their fields"): the summary takes focus, each link reaches its
field, each invalid field is described by its message, and axe finds nothing serious."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.acceptance.test_accessibility import BLOCKING, WCAG_A_AA, axe_source
from tests.browser.conftest import screenshot
from tests.browser.test_accessibility_layout import _sign_in

TYPO = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Ưu đãi</mj-text>
<mj-buton href="https://dcnet.example.vn">Xem</mj-buton>
</mj-column></mj-section></mj-body></mjml>"""


@pytest.fixture(scope="session")
def axe() -> str:
    return axe_source()


def _serious(tab: Any, axe_source: str) -> list[str]:
    tab.add_script_tag(content=axe_source)
    result = tab.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_A_AA
    )
    return [
        f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def _focused_id(tab: Any) -> str:
    return str(tab.evaluate("document.activeElement && document.activeElement.id"))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """bypass_csp: axe is injected as an inline script, which the pages' CSP refuses."""
    context = browser.new_context(locale="vi-VN", bypass_csp=True)
    yield context.new_page()
    context.close()


def test_sign_up_errors_take_focus_and_name_their_fields(
    app: Flask, live_server: str, page: Any, axe: str
) -> None:
    page.goto(f"{live_server}/subscribe")
    page.locator("#email").fill("khong-phai-email")
    page.get_by_role("button", name="Đăng ký").click()
    page.wait_for_load_state()
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_focused()
    email = page.locator("#email")
    expect(email).to_have_attribute("aria-invalid", "true")
    message = page.locator("#email-error").inner_text().strip()
    assert message
    expect(email).to_have_accessible_description(message)
    expect(page.locator("#purpose-promotions")).to_have_attribute("aria-invalid", "true")
    described = page.locator("#purpose-promotions").get_attribute("aria-describedby") or ""
    assert "purposes-error" in described.split()
    screenshot(page, "subscribe-errors")
    # Each link of the summary takes the keyboard to its field.
    summary.get_by_role("link").first.press("Enter")
    expect(email).to_be_focused()
    assert _serious(page, axe) == []


def test_an_mjml_error_takes_focus_and_marks_its_field_also_in_the_live_preview(
    app: Flask, live_server: str, page: Any, axe: str
) -> None:
    _sign_in(page, live_server)
    page.goto(f"{live_server}/admin/templates/new")
    body = page.locator("#body_mjml")
    body.fill(TYPO)
    page.get_by_role("button", name="Lưu phiên bản").click()
    page.wait_for_load_state()
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_focused()
    expect(body).to_have_attribute("aria-invalid", "true")
    expect(body).to_have_accessible_description(re.compile("mj-buton"))
    screenshot(page, "template-error-summary")
    summary.get_by_role("link").first.press("Enter")
    expect(body).to_be_focused()
    assert _serious(page, axe) == []

    # Fixed in the editor: the live preview renders and the mark goes.
    body.fill(TYPO.replace("mj-buton", "mj-button"))
    page.locator("[data-testid=preview-subject]").wait_for()
    expect(body).not_to_have_attribute("aria-invalid", "true")
    expect(body).to_have_accessible_description("")
    # Broken in the subject while typing: the subject is marked, its hint kept.
    subject = page.locator("#subject")
    subject.fill("Ưu đãi {{ contact_name")
    expect(subject).to_have_attribute("aria-invalid", "true")
    expect(subject).to_have_accessible_description(re.compile(r"\[QC\].*Tiêu đề", re.S))
    assert _focused_id(page) == "subject"  # marking a field never moves the person's focus
