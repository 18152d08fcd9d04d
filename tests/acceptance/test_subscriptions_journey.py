"""Billing upserts subscriptions over HTTP, staff run a renewal campaign, and each customer
receives their own expiring service at the SMTP server: gunicorn, CLI, worker and scheduler as
separate processes, entered only through HTTP and the CLI."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.acceptance.conftest import Product
from tests.acceptance.journeys import (
    mail_to,
    text_of,
    wait_until,
    web_form_consent,
    with_workers,
)
from tests.smtp_server import SmtpTestServer

TEMPLATE = {
    "name": "Gia hạn theo từng khách",
    "kind": "renewal",
    "purpose": "renewal",
    "subject": "{{ subscription.name }} hết hạn ngày {{ subscription.expires_on|date }}",
    "body_mjml": "<mjml><mj-body><mj-section><mj-column><mj-text>Kính gửi {{ contact_name }}: "
    "{{ subscription.name }} ({{ subscription.plan }}) hết hạn {{ subscription.expires_on|date }}."
    '</mj-text><mj-button href="{{ subscription.renewal_url }}">Gia hạn</mj-button>'
    "</mj-column></mj-section></mj-body></mjml>",
    "text": "{{ subscription.name }}: {{ subscription.renewal_url }}",
}


def call(product: Product, key: str, method: str, path: str, body: object = None) -> Any:
    request = urllib.request.Request(
        f"{product.base_url}/api/v1{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def posted(product: Product, key: str, path: str, body: object = None, status: int = 201) -> Any:
    """POST to the API, asserting the status; the answer."""
    got, answer = call(product, key, "POST", path, body)
    assert got == status, answer
    return answer


def key_for(product: Product, name: str, *scopes: str) -> str:
    args = [a for scope in scopes for a in ("--scope", scope)]
    created = product.cli("apikey", "create", name, *args)
    return created.split("key: ", 1)[1].split()[0]


def promotion_customers(product: Product, addresses: list[str], tag: str) -> None:
    """Customers a CRM posts, each agreed to promotions on the web form and tagged `tag`."""
    crm = key_for(product, "crm", "contacts")
    for i, address in enumerate(addresses):
        posted(product, crm, "/contacts", {
            "external_ref": f"{tag}-{i}", "email": address, "name": f"Khách {i}", "locale": "vi",
            "tags": [tag], "consents": [web_form_consent("promotions")],
        })  # fmt: skip


def test_each_customer_receives_their_own_expiring_service(
    product: Product, sink: SmtpTestServer
) -> None:
    with_workers(product)
    crm = key_for(product, "crm", "contacts")
    billing = key_for(product, "billing", "subscriptions")
    staff = key_for(product, "marketing", "templates", "campaigns")
    soon = datetime.now(UTC).date()
    for ref, address, domain, days in (
        ("KH-1", "an@example.com", "hoalan.vn", 10),
        ("KH-2", "binh@example.com", "binhminh.com.vn", 20),
    ):
        status, _ = call(product, crm, "POST", "/contacts", {"external_ref": ref, "email": address})
        assert status == 201
        row = {
            "contact": {"external_ref": ref},
            "kind": "domain",
            "name": domain,
            "plan": "Tên miền",
            "expires_on": (soon + timedelta(days=days)).isoformat(),
            "amount": "750000",
            "currency": "VND",
            "renewal_url": f"https://billing.dcnet.vn/gia-han/{domain}",
        }
        status, answer = call(product, billing, "PUT", f"/subscriptions/{domain}", row)
        assert status == 201, answer
    # One far from expiry: outside the window, its holder is not in the audience.
    status, _ = call(
        product, crm, "POST", "/contacts", {"external_ref": "KH-3", "email": "cuc@example.com"}
    )
    far = {
        **row,
        "contact": {"external_ref": "KH-3"},
        "expires_on": (soon + timedelta(days=300)).isoformat(),
    }
    assert call(product, billing, "PUT", "/subscriptions/cuc.vn", far)[0] == 201

    status, template = call(product, staff, "POST", "/templates", TEMPLATE)
    assert status == 201, template
    campaign = {
        "name": "Gia hạn tháng này",
        "kind": "renewal",
        "purpose": "renewal",
        "template_id": template["id"],
        "audience": {"expiring_within_days": 30},
    }
    status, created = call(product, staff, "POST", "/campaigns", campaign)
    assert status == 201, created
    status, scheduled = call(product, staff, "POST", f"/campaigns/{created['id']}/schedule")
    assert status in (200, 202), scheduled

    wait_until(
        lambda: mail_to(sink, "an@example.com") and mail_to(sink, "binh@example.com"),
        "both renewal mails at the SMTP server",
    )
    an, binh = mail_to(sink, "an@example.com")[0], mail_to(sink, "binh@example.com")[0]
    assert str(an["Subject"]).startswith("hoalan.vn hết hạn")
    assert "https://billing.dcnet.vn/gia-han/hoalan.vn" in text_of(an)
    assert str(binh["Subject"]).startswith("binhminh.com.vn hết hạn")
    assert "hoalan" not in text_of(binh)
    assert mail_to(sink, "cuc@example.com") == []


def _reminder_moment(now: datetime) -> tuple[int, int]:
    """A step and a local hour whose moment has passed, less than a day ago, in Vietnam's time
    (the contacts' zone), so the reminder is due at once, whenever the test runs: from 08:00 to
    21:00 today at 08:00, in the evening today at 20:00, before 08:00 yesterday at 20:00 (quiet
    hours keep the moment between 08:00 and 21:00)."""
    local = now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    if local.hour < 8:
        return -8, 20  # the step day is yesterday for an expiry 7 days from today
    return -7, 8 if local.hour < 21 else 20


def test_billing_subscriptions_bring_each_reminder_once(
    product: Product, sink: SmtpTestServer
) -> None:
    """Billing sets the renewal notice's schedule and upserts services in bulk; the scheduler
    makes the reminder that is due, a worker sends it, once; a service renewed further down the
    same file (its later line wins) gets none for its old date."""
    with_workers(product)
    crm = key_for(product, "crm", "contacts")
    billing = key_for(product, "billing", "subscriptions", "templates", "notices")
    now = datetime.now(UTC)
    step, hour = _reminder_moment(now)
    today = now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    expiry = (today + timedelta(days=7)).isoformat()
    for ref, address in (("KH-7", "dung@example.com"), ("KH-8", "em@example.com")):
        status, _ = call(product, crm, "POST", "/contacts", {"external_ref": ref, "email": address})
        assert status == 201

    schedule = {"steps": [step, 3], "local_hour": hour, "paused": False}
    status, answer = call(product, billing, "PUT", "/notice-types/renewal/schedule", schedule)
    assert status == 200, answer
    rows = [
        {"external_id": domain, "contact": {"external_ref": ref}, "kind": "domain",
         "name": domain, "plan": "Tên miền", "expires_on": expiry, "amount": "450000",
         "currency": "VND", "renewal_url": f"https://billing.dcnet.vn/gia-han/{domain}"}
        for ref, domain in (("KH-7", "dunghoa.vn"), ("KH-8", "emxanh.vn"))
    ]  # fmt: skip
    # Em's service is renewed in the same file: a new expiry date a year on, no reminder now.
    rows.append({**rows[1], "expires_on": (today + timedelta(days=372)).isoformat()})
    body = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    request = urllib.request.Request(
        f"{product.base_url}/api/v1/subscriptions/bulk",
        method="POST",
        data=body,
        headers={"Authorization": f"Bearer {billing}", "Content-Type": "application/x-ndjson"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200, answer.read()

    wait_until(lambda: mail_to(sink, "dung@example.com"), "Dung's reminder at the SMTP server")
    [reminder] = mail_to(sink, "dung@example.com")
    assert "dunghoa.vn" in text_of(reminder)
    assert not str(reminder["Subject"]).startswith("[QC]")  # service mail, not advertising
    # Later rounds (the scheduler runs every second) make no second reminder, and nothing for Em.
    time.sleep(5)
    assert len(mail_to(sink, "dung@example.com")) == 1
    assert mail_to(sink, "em@example.com") == []
