"""Billing reports two customers' services over the API; staff save a segment "a service expiring
within 30 days" in the builder; a promotion for that segment reaches exactly the customer whose
domain expires in 10 days, not the one whose hosting runs for 60 more: gunicorn, a worker and
the scheduler as separate processes, the mail checked at the SMTP server.

Its own module: a module-scoped product (tests/acceptance/test_segments.py) shares the Redis
database, so its still-running worker would take this product's jobs."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.acceptance.conftest import Product
from tests.acceptance.journeys import (
    mail_to,
    staff_session,
    wait_until,
    web_form_consent,
    with_workers,
)
from tests.acceptance.test_subscriptions_journey import call, key_for, posted
from tests.smtp_server import SmtpTestServer

SOON, LATER = "sap.het.han@example.com", "con.lau@example.com"


def test_a_segment_of_services_expiring_within_30_days_reaches_exactly_their_holder(
    product: Product, sink: SmtpTestServer
) -> None:
    with_workers(product)
    staff_key = key_for(product, "marketing", "contacts", "templates", "campaigns")
    billing = key_for(product, "billing", "subscriptions")
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()  # the profile's day
    for ref, email, kind, name, days in (
        ("SS-1", SOON, "domain", "hoalan.vn", 10),
        ("SS-2", LATER, "hosting", "hoalan-hosting", 60),
    ):
        posted(product, staff_key, "/contacts", {
            "external_ref": ref, "email": email, "name": "Khách " + ref, "locale": "vi",
            "consents": [web_form_consent("promotions")],
        })  # fmt: skip
        row = {
            "contact": {"external_ref": ref}, "kind": kind, "name": name, "plan": "Cơ bản",
            "expires_on": (today + timedelta(days=days)).isoformat(), "amount": "450000",
            "currency": "VND", "renewal_url": f"https://billing.dcnet.vn/gia-han/{name}",
        }  # fmt: skip
        status, answer = call(product, billing, "PUT", f"/subscriptions/{name}", row)
        assert status == 201, answer

    staff = staff_session(product, "tiepthi.dichvu@example.com", "marketing")
    builder = staff.get("/admin/segments/new")
    assert builder.status == 200, builder.body[:2000]
    row_form = {
        "group_0": "1", "field_0": "subscription", "key_0": "", "op_0": "expires_within",
        "value_0": "30",
    }  # fmt: skip
    hostile = staff.submit(builder, "/admin/segments/new",
                           {"name": "Sai", "rows": "1", "match": "all", "action": "save",
                            **row_form, "key_0": "domain' OR '1'='1"})  # fmt: skip
    assert hostile.status == 422 and "Để trống (mọi dịch vụ)" in hostile.body, hostile.body[:3000]
    saved = staff.submit(builder, "/admin/segments/new",
                         {"name": "Hết hạn trong 30 ngày", "rows": "1", "match": "all",
                          "action": "save", **row_form})  # fmt: skip
    found = re.search(r"/admin/segments/(\d+)$", saved.url)
    assert saved.status == 200 and found, (saved.status, saved.url, saved.body[:3000])
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', saved.body)
    assert token, saved.body[:2000]
    live = staff.post("/admin/segments/count", [
        ("csrf_token", token[1]), ("purpose_key", "promotions"), ("rows", "1"), ("match", "all"),
        *row_form.items(),
    ])  # fmt: skip
    assert 'data-testid="segment-total">1<' in live.body, live.body

    layout = {"layout": "promotion", "name": "Khuyến mãi gia hạn", "purpose": "promotions"}
    copied = posted(product, staff_key, "/templates/from-layout", layout)
    campaign = posted(product, staff_key, "/campaigns", {
        "name": "Gia hạn sớm, giảm 20%", "kind": "promotion", "purpose": "promotions",
        "template_id": copied["template"]["id"], "data": copied["sample_data"]["vi"],
        "audience": {"segment": int(found[1])},
    })  # fmt: skip
    posted(product, staff_key, f"/campaigns/{campaign['id']}/schedule", status=200)
    wait_until(lambda: mail_to(sink, SOON), "the promotion to the expiring customer", within=120)
    time.sleep(3)  # a wrong second recipient would be at the sink by now
    assert [r for m in sink.messages for r in m.rcpt_tos] == [SOON]
