"""The template preview in Chromium shows the whole message, the legal footer included."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.browser.test_admin_flow import _nav, _sign_in
from tests.integration.test_admin_support import make_staff


@pytest.mark.parametrize("device", ["Máy tính", "Điện thoại"])
def test_the_preview_frame_is_as_tall_as_the_message(
    app: Flask, live_server: str, page: Any, device: str
) -> None:
    make_staff("mkt@example.com", "admin", name="Nguyễn Thu Hà")
    _sign_in(page, live_server, "mkt@example.com")
    _nav(page, "Mẫu email")
    page.get_by_role("link", name="+ Dùng bố cục này").first.click()
    page.locator("[data-testid=preview-subject]").wait_for()
    page.get_by_role("button", name=device).click()
    frame = page.locator("iframe.preview-frame:visible")
    refusal = frame.content_frame.locator('[data-notifier="refusal"]')
    refusal.wait_for()
    page.wait_for_function(
        """() => [...document.querySelectorAll('iframe.preview-frame')]
                 .filter((f) => f.offsetParent !== null)
                 .every((f) => f.getBoundingClientRect().height + 1 >=
                               f.contentDocument.documentElement.scrollHeight)"""
    )
    box, footer = frame.bounding_box(), refusal.bounding_box()
    assert box is not None and footer is not None
    # The footer lies inside the frame's box, not below a scroll edge.
    assert footer["y"] + footer["height"] <= box["y"] + box["height"]
