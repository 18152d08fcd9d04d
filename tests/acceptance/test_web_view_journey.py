"""A customer opens a promotion in their browser from the "Xem trên trình duyệt" link of the mail
that reached the SMTP server: gunicorn, worker and scheduler as separate processes, entered only
through the API, HTTP and the SMTP sink."""

from __future__ import annotations

import re

from tests.acceptance.conftest import Product
from tests.acceptance.journeys import mail_to, wait_until, web_form_consent, with_workers
from tests.acceptance.test_subscriptions_journey import key_for, posted
from tests.acceptance.visitor import Visitor
from tests.smtp_server import SmtpTestServer

CUSTOMER = "khach.web@example.com"


def html_of(message: object) -> str:
    part = message.get_body(("html",))  # type: ignore[attr-defined]
    assert part is not None
    return str(part.get_content())


def test_the_web_view_link_of_a_campaign_mail_opens_that_message(
    product: Product, sink: SmtpTestServer
) -> None:
    with_workers(product)
    key = key_for(product, "marketing", "contacts", "templates", "campaigns")
    customer = {
        "external_ref": "WV-1", "email": CUSTOMER, "name": "Lê Thị Hoa", "locale": "vi",
        "tags": ["web-view"],
        "consents": [web_form_consent("promotions")],
    }  # fmt: skip
    posted(product, key, "/contacts", customer)
    layout = {"layout": "promotion", "name": "Khuyến mãi", "purpose": "promotions"}
    copied = posted(product, key, "/templates/from-layout", layout)
    campaign = posted(product, key, "/campaigns", {
        "name": "Ưu đãi tháng 12", "kind": "promotion", "purpose": "promotions",
        "template_id": copied["template"]["id"], "data": copied["sample_data"]["vi"],
        "audience": {"tags": ["web-view"]},
    })  # fmt: skip
    posted(product, key, f"/campaigns/{campaign['id']}/schedule", status=200)

    wait_until(lambda: mail_to(sink, CUSTOMER), "the promotion at the SMTP server", within=120)
    (mail,) = mail_to(sink, CUSTOMER)
    received = html_of(mail)
    link = re.search(r'href="(' + re.escape(product.base_url) + r'/m/[A-Za-z0-9_-]+)"', received)
    assert link, received
    page = Visitor(product.base_url).get(link[1])
    assert page.status == 200
    assert page.body == received.replace("\r\n", "\n")  # the message as it was received
    assert "Xin chào Lê Thị Hoa" in page.body and "Xem trên trình duyệt" in page.body
    unsubscribe = str(mail["List-Unsubscribe"]).split(",")[0].strip("<> ")
    assert unsubscribe in page.body  # the customer's own unsubscribe link
    headers = {name.lower(): value for name, value in page.headers.items()}
    assert "script-src" not in headers["content-security-policy"]
    assert headers["x-robots-tag"].startswith("noindex")
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"].startswith("private")

    token = link[1].rpartition("/")[2]
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    refused = Visitor(product.base_url).get(f"/m/{changed}")
    assert refused.status == 404 and "Liên kết không hợp lệ" in refused.body
    english = Visitor(product.base_url).get(f"/m/{changed}?lang=en")
    assert english.status == 404 and "This link does not work" in english.body
