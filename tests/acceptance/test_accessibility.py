"""axe-core in Debian's chromium over every public page and every admin page of the admin menu.

Fails on WCAG 2.0/2.1 A and AA violations of impact serious or critical. axe-core comes from npm,
installed once into tests/acceptance/node_modules (ignored by git) and reused by later runs.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.acceptance.conftest import Product
from tests.acceptance.journeys import mail_to, staff_session, text_of, web_form_consent
from tests.acceptance.test_subscriptions_journey import key_for, posted
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.smtp_server import SmtpTestServer

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
# Found by this scan; another engineer is fixing them: strict, so a fix flips the test to pass.
PUBLIC = [
    "/subscribe", "/admin/login", "preferences", "history",
    "privacy", "web view",
]  # fmt: skip
ADMIN_MENU = [
    "/admin/", "/admin/contacts", "/admin/campaigns", "/admin/templates", "/admin/notices",
    "/admin/outbox", "/admin/audit", "/admin/staff", "/admin/queues", "/admin/settings",
    "/admin/privacy", "/admin/contacts/import", "/admin/deliverability",
    "/admin/segments", "/admin/segments/new", "/admin/webhooks",
    "/admin/notices/types/renewal/reminders",
]  # fmt: skip


@pytest.fixture(scope="session")
def axe() -> str:
    return axe_source()


def axe_source() -> str:
    """axe-core's script, installed from npm on first use (the browser tests use it too)."""
    if not AXE.exists():
        # Two test processes (pytest-xdist) may ask at once, and an npm install rewrites the
        # node_modules the other is filling: one installs, the other waits for it.
        with (HERE / "node_modules.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not AXE.exists():
                subprocess.run(
                    ["npm", "install", "--no-save", "--no-package-lock", "--prefix", str(HERE),
                     "axe-core@4"],
                    check=True, capture_output=True, timeout=300,
                )  # fmt: skip
    return AXE.read_text()


@pytest.fixture(scope="module")
def tokens(module_product: Product, module_sink: SmtpTestServer) -> dict[str, str]:
    """A person's own pages: the links of the confirmation a phone refusal sends them."""
    person = "lan.nguyen@example.com"
    staff = staff_session(module_product, "a11y@example.com")
    contact = re.search(
        r'href="/admin/contacts/(\d+)"', staff.get(f"/admin/contacts?q={person}").body
    )
    assert contact
    page = staff.get(f"/admin/contacts/{contact[1]}")
    staff.submit(page, f"/admin/contacts/{contact[1]}/refusal", {"purposes": "events"})
    module_product.deliver()
    [confirmation] = mail_to(module_sink, person)
    found = re.search(r"http://127\.0\.0\.1:\d+(/p/[^\s>\"]+)", text_of(confirmation))
    assert found, text_of(confirmation)
    base = found[1]
    return {
        "preferences": base, "history": f"{base}/history", "privacy": f"{base}/privacy",
        "web view": _web_view_path(module_product, module_sink),
    }  # fmt: skip


def _web_view_path(product: Product, sink: SmtpTestServer) -> str:
    """The "view in your browser" link of a promotion sent to a new customer."""
    key = key_for(product, "a11y", "contacts", "templates", "campaigns")
    customer = {"external_ref": "A11Y-1", "email": "a11y.web@example.com", "name": "Vũ Thị Mai",
                "tags": ["a11y"],
                "consents": [web_form_consent("promotions")]}  # fmt: skip
    posted(product, key, "/contacts", customer)
    layout = {"layout": "promotion", "name": "A11y", "purpose": "promotions"}
    copied = posted(product, key, "/templates/from-layout", layout)
    campaign = posted(product, key, "/campaigns", {
        "name": "A11y", "kind": "promotion", "purpose": "promotions",
        "audience": {"tags": ["a11y"]}, "template_id": copied["template"]["id"],
        "data": copied["sample_data"]["vi"],
    })  # fmt: skip
    posted(product, key, f"/campaigns/{campaign['id']}/schedule", status=200)
    for _ in range(3):  # plan, then send
        product.deliver()
    [mail] = mail_to(sink, "a11y.web@example.com")
    html = mail.get_body(("html",))
    assert html is not None
    found = re.search(r'href="http://127\.0\.0\.1:\d+(/m/[A-Za-z0-9_-]+)"', html.get_content())
    assert found, "no web view link"
    return found[1]


@pytest.fixture(scope="module")
def admin_password(module_product: Product) -> str:
    created = module_product.cli("staff", "create", "axe@example.com", "--role", "admin")
    found = re.search(r"password: (\S+)", created)
    assert found, created
    return found[1]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def signed_in(chromium: Any, module_product: Product, admin_password: str) -> Iterator[Any]:
    context = chromium.new_context(locale="vi-VN", bypass_csp=True)
    tab = context.new_page()
    tab.goto(f"{module_product.base_url}/admin/login")
    tab.get_by_label("Email").fill("axe@example.com")
    tab.get_by_label("Mật khẩu").fill(admin_password)
    tab.get_by_role("button", name="Đăng nhập").click()
    tab.wait_for_load_state()
    if tab.url.endswith("/admin/two-factor/enrol"):
        # Admins enrol a second factor at first sign-in: type the shown key, as into an app.
        key = tab.get_by_test_id("totp-secret").inner_text().replace(" ", "")
        tab.locator("#code").fill(pyotp.TOTP(key).now())
        tab.locator("#code").press("Enter")
        tab.wait_for_load_state()
        tab.goto(f"{module_product.base_url}/admin/")
    tab.wait_for_url(f"{module_product.base_url}/admin/")
    yield tab
    context.close()


# The page's CSP (script-src 'self') would refuse axe injected as an inline script.
def _violations(tab: Any, axe: str, url: str) -> list[str]:
    answer = tab.goto(url)
    assert answer.status == 200, url
    tab.add_script_tag(content=axe)
    result = tab.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_A_AA
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("page", PUBLIC)
def test_public_page_has_no_serious_wcag_violation(
    page: str, chromium: Any, axe: str, module_product: Product, tokens: dict[str, str]
) -> None:
    context = chromium.new_context(locale="vi-VN", bypass_csp=True)
    try:
        path = tokens.get(page, page)
        assert _violations(context.new_page(), axe, module_product.base_url + path) == []
    finally:
        context.close()


@pytest.mark.parametrize("path", ADMIN_MENU)
def test_admin_page_has_no_serious_wcag_violation(
    path: str, signed_in: Any, axe: str, module_product: Product
) -> None:
    assert _violations(signed_in, axe, module_product.base_url + path) == []


def test_the_admin_menu_holds_no_page_this_scan_misses(
    signed_in: Any, module_product: Product
) -> None:
    signed_in.goto(f"{module_product.base_url}/admin/")
    menu = signed_in.get_by_role("navigation", name="Menu chính").locator("a")
    linked = {menu.nth(i).get_attribute("href") for i in range(menu.count())}
    assert linked and linked <= set(ADMIN_MENU), linked - set(ADMIN_MENU)


def test_the_template_editor_has_a_variant_per_locale_reachable_by_keyboard(
    signed_in: Any, axe: str, module_product: Product
) -> None:
    """Each variant is a fieldset with a legend and its own labels; Tab walks from the
    Vietnamese fields into the English ones in order, and axe finds nothing serious."""
    url = f"{module_product.base_url}/admin/templates/new?layout=promotion"
    assert _violations(signed_in, axe, url) == []
    english = signed_in.get_by_role("group", name="Bản tiếng Anh (tùy chọn)")
    assert english.get_by_label("Tiêu đề tiếng Anh").get_attribute("lang") == "en"
    signed_in.locator("#text").focus()
    reached = []
    for _ in range(6):  # the text part, then the English subject, body and text
        signed_in.keyboard.press("Tab")
        reached.append(signed_in.evaluate("document.activeElement.id"))
        if reached[-1] == "en_text":
            break
    assert reached == ["en_subject", "en_body_mjml", "en_text"], reached
