"""The segment builder in Chromium: two groups of conditions, an engagement condition, the live
count, save."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import select

from notifier.infra.extensions import db
from notifier.models import Segment
from tests.browser.test_admin_flow import _nav, _sign_in, screenshot
from tests.integration.helpers import make_contact
from tests.integration.test_admin_support import make_staff
from tests.integration.web.admin.test_admin_segments import _engagement


def _row(page: Any, number: int, **values: str) -> None:
    for label, value in values.items():
        field = page.get_by_label(f"{label} {number}", exact=True)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def test_build_a_two_group_segment_see_the_count_and_save(
    app: Flask, live_server: str, page: Any
) -> None:
    make_staff("mkt@example.com", "admin", name="Nguyễn Thu Hà")
    make_contact("a@example.com", grants=("promotions",), tags=["vip"], attributes={"city": "HN"})
    make_contact("b@example.com", grants=("promotions",), attributes={"city": "HN", "spend": "10"})
    make_contact("c@example.com", attributes={"city": "SG", "spend": "5000"})
    _sign_in(page, live_server, "mkt@example.com")
    _nav(page, "Phân khúc")
    page.get_by_role("link", name="Phân khúc mới").click()
    page.get_by_label("Tên", exact=True).fill("HN VIP hoặc chi nhiều")
    _row(page, 1, **{"Trường": "attribute", "Thuộc tính / mục đích": "city", "Giá trị": "HN"})
    page.get_by_role("button", name="Thêm điều kiện").click()  # a plain submit: the page returns
    page.get_by_label("Trường 2", exact=True).wait_for()
    _row(page, 2, **{"Trường": "tag", "Phép so sánh": "has", "Giá trị": "vip"})
    page.get_by_role("button", name="Thêm nhóm").click()
    page.get_by_label("Trường 3", exact=True).wait_for()
    _row(page, 3, **{"Trường": "attribute", "Thuộc tính / mục đích": "spend", "Kiểu": "number",
                     "Phép so sánh": "ge", "Giá trị": "1000"})  # fmt: skip
    page.get_by_label("Các nhóm kết hợp theo").select_option("any")
    # The live count follows each change: (city HN and vip) or spend >= 1000 is a and c; only a
    # may receive promotions.
    total = page.get_by_test_id("segment-total")
    total.filter(has_text="2").wait_for()
    assert page.get_by_test_id("eligible").inner_text() == "1"
    screenshot(page, "segment-builder")
    page.get_by_test_id("segment-save").click()
    page.get_by_text("Đã lưu phân khúc.").wait_for()
    segment = db.session.scalars(select(Segment)).one()
    assert segment.name == "HN VIP hoặc chi nhiều"
    assert [len(g["items"]) for g in segment.definition["items"]] == [2, 1]
    assert segment.definition["match"] == "any"


def _set(page: Any, **values: str) -> None:
    """Row 1's fields, then leave the value as a person would: its change event asks the count."""
    _row(page, 1, **values)
    page.get_by_label("Giá trị 1", exact=True).press("Tab")


def test_an_engagement_condition_counts_live(app: Flask, live_server: str, page: Any) -> None:
    """Clicked in the last N days: a person's click three days ago counts, a scanner's never,
    a click 40 days ago only once N reaches it (tests.integration.web.admin)."""
    make_staff("mkt@example.com", "admin", name="Nguyễn Thu Hà")
    _engagement()
    _sign_in(page, live_server, "mkt@example.com")
    page.goto(f"{live_server}/admin/segments/new")
    page.get_by_label("Tên", exact=True).fill("Bấm gần đây")
    _set(page, **{"Trường": "clicked", "Phép so sánh": "within", "Giá trị": "30"})
    total = page.get_by_test_id("segment-total")
    total.filter(has_text=re.compile(r"^\s*1\s*$")).wait_for()
    _set(page, **{"Giá trị": "60"})
    total.filter(has_text=re.compile(r"^\s*2\s*$")).wait_for()
    _set(page, **{"Phép so sánh": "not_within"})
    total.filter(has_text=re.compile(r"^\s*2\s*$")).wait_for()  # the scanned and the quiet one
    _set(page, **{"Trường": "last_campaigns", "Phép so sánh": "none_opened", "Giá trị": "4"})
    total.filter(has_text=re.compile(r"^\s*0\s*$")).wait_for()  # everyone had only three
    _set(page, **{"Giá trị": "25"})
    page.get_by_text("số chiến dịch, một số nguyên từ 1 đến 20").wait_for()
    _set(page, **{"Giá trị": "3"})
    total.filter(has_text=re.compile(r"^\s*2\s*$")).wait_for()
    chosen = page.get_by_label("Trường 1", exact=True).evaluate("e => e.selectedOptions[0].text")
    assert chosen == "N chiến dịch gần nhất có theo dõi lượt mở"
    screenshot(page, "segment-builder-engagement")
    page.get_by_test_id("segment-save").click()
    page.get_by_text("Đã lưu phân khúc.").wait_for()
    segment = db.session.scalars(select(Segment)).one()
    assert segment.definition["items"][0]["items"] == [
        {"field": "last_campaigns", "op": "none_opened", "value": "3"}
    ]
