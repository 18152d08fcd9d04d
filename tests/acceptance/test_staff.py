"""Staff record a refusal told on the phone; the next campaign skips the person (Decree 91/2020).

A module of its own: the published frequency cap defers a third promotion within days, so this
campaign must not follow the marketer's and the customer's on the same product.
"""

from __future__ import annotations

import re

import pytest

from tests.acceptance.conftest import Product
from tests.acceptance.journeys import (
    PROMOTIONS,
    campaign_done,
    mail_to,
    run_campaign,
    staff_session,
    wait_until,
    with_workers,
)
from tests.acceptance.visitor import Visitor
from tests.smtp_server import SmtpTestServer


@pytest.fixture(scope="module")
def product(module_product: Product) -> Product:
    return with_workers(module_product)


@pytest.fixture(scope="module")
def staff(product: Product) -> Visitor:
    return staff_session(product, "tong.dai@example.com")


def test_staff_record_a_phone_refusal_that_a_later_campaign_respects(
    product: Product, staff: Visitor, module_sink: SmtpTestServer
) -> None:
    caller = "minh.tran@example.com"
    listing = staff.get(f"/admin/contacts?q={caller}")
    found = re.search(r'href="/admin/contacts/(\d+)"', listing.body)
    assert found, listing.body[:3000]
    since = len(module_sink.messages)
    page = staff.get(f"/admin/contacts/{found[1]}")
    recorded = staff.submit(
        page, f"/admin/contacts/{found[1]}/refusal",
        {"purposes": "promotions", "note": "Khách gọi hotline lúc 9:30"},
    )  # fmt: skip
    assert "Đã ghi nhận từ chối" in recorded.body, recorded.body[:3000]
    assert "Rút lại đồng ý" in recorded.body

    campaign = run_campaign(product, staff, "Khuyến mãi sau cuộc gọi")
    wait_until(lambda: campaign_done(staff, campaign), "the campaign is sent")
    expected = PROMOTIONS - {caller}
    wait_until(lambda: len(module_sink.messages) - since > len(expected), "mail at the sink")
    product.cli("worker", "--burst")  # nothing else waits to go out
    reached = [r for m in module_sink.messages[since:] for r in m.rcpt_tos]
    assert sorted(reached) == sorted([*expected, caller])  # the caller: the confirmation only
    [confirmation] = mail_to(module_sink, caller, since)
    assert confirmation["Subject"] == "Xác nhận từ chối nhận email"
    assert not str(confirmation["Subject"]).startswith("[QC]")
