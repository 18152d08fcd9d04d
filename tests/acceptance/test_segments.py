"""Staff build a segment over HTTP and a campaign using it reaches exactly the contacts that match
it and may receive the purpose: gunicorn, a worker and the scheduler as separate processes, mail
checked at the SMTP server."""

from __future__ import annotations

import re

import pytest

from tests.acceptance.conftest import Product
from tests.acceptance.journeys import (
    PROMOTIONS,
    campaign_done,
    create_campaign,
    create_template,
    schedule_now,
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
    return staff_session(product, "ha.segments@example.com")


def test_a_campaign_with_a_segment_reaches_exactly_the_matching_eligible_contacts(
    product: Product, staff: Visitor, module_sink: SmtpTestServer
) -> None:
    builder = staff.get("/admin/segments/new")
    assert builder.status == 200, builder.body[:2000]
    # (email starts with "lan.") or (email contains "@example.net")
    saved = staff.submit(
        builder,
        "/admin/segments/new",
        {
            "name": "Lan hoặc .net", "rows": "2", "match": "any", "action": "save",
            "group_0": "1", "field_0": "email", "op_0": "starts_with", "value_0": "lan.",
            "group_1": "2", "field_1": "email", "op_1": "contains", "value_1": "@example.net",
        },
    )  # fmt: skip
    found = re.search(r"/admin/segments/(\d+)$", saved.url)
    assert saved.status == 200 and found, (saved.status, saved.url, saved.body[:3000])
    expected = {e for e in PROMOTIONS if e.startswith("lan.") or e.endswith("@example.net")}
    assert len(expected) >= 3
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', saved.body)
    assert token, saved.body[:2000]
    live = staff.post(
        "/admin/segments/count",
        [("csrf_token", token[1]), ("purpose_key", "promotions"), ("rows", "1"),
         ("match", "all"), ("group_0", "1"),
         ("field_0", "email"), ("op_0", "contains"), ("value_0", "@example.net")],
    )  # fmt: skip
    shown = re.search(r'data-testid="segment-total">(\d+)<', live.body)
    assert shown and int(shown[1]) >= len([e for e in expected if e.endswith(".net")]), live.body

    since = len(module_sink.messages)
    create_template(staff, "Mẫu phân khúc")
    campaign, review = create_campaign(
        staff, "Khuyến mãi theo phân khúc", "Mẫu phân khúc", segment=found[1]
    )
    schedule_now(staff, campaign, review)
    wait_until(lambda: campaign_done(staff, campaign), "the segment campaign is sent")
    wait_until(lambda: len(module_sink.messages) - since >= len(expected), "mail at the sink")
    received = sorted(r for m in module_sink.messages[since:] for r in m.rcpt_tos)
    assert received == sorted(expected)
