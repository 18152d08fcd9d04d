"""The billing system hears of an unsubscribe: web (gunicorn), worker and scheduler as OS
processes; an endpoint added over the API; a contact unsubscribes by the one-click URL of a real
campaign mail over HTTP; the receiver gets exactly one signed consent.withdrawn."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import Product, started
from tests.acceptance.journeys import (
    campaign_done,
    mail_to,
    run_campaign,
    staff_session,
    wait_until,
    with_workers,
)
from tests.acceptance.visitor import Visitor
from tests.dns_server import LocalDns
from tests.smtp_server import SmtpTestServer
from tests.webhook_receiver import Receiver, receiving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as server:
        yield server


@pytest.fixture
def product(
    tmp_path: Path, redis_url: str, dns: LocalDns, sink: SmtpTestServer
) -> Iterator[Product]:
    # A receiver on this machine is allowed here, as in development; production allows none.
    settings = {"NOTIFIER_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.1/32"]'}
    with started(tmp_path, redis_url, dns, sink, settings) as running:
        yield with_workers(running)


def api(product: Product, key: str, path: str, body: object = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{product.base_url}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_a_one_click_unsubscribe_reaches_the_billing_system_once_signed(
    product: Product, sink: SmtpTestServer, receiver: Receiver
) -> None:
    created = product.cli("apikey", "create", "billing", "--scope", "webhooks")
    found = re.search(r"key: (\S+)", created)
    assert found, created
    status, endpoint = api(
        product,
        found[1],
        "/webhook-endpoints",
        {"url": receiver.url, "events": ["consent.withdrawn"], "description": "billing"},
    )
    assert status == 201, endpoint
    receiver.secret = endpoint["secret"]
    # The internal address a production setup refuses is refused here too: only 127.0.0.1 is
    # allowed by this product's settings.
    status, refused = api(
        product, found[1], "/webhook-endpoints",
        {"url": "http://169.254.169.254/", "events": ["consent.withdrawn"]},
    )  # fmt: skip
    assert status == 422, refused

    staff = staff_session(product, "ha.marketing@example.com")
    campaign = run_campaign(product, staff, "Ưu đãi webhook")
    wait_until(lambda: campaign_done(staff, campaign), "the campaign is sent")
    person = "vinh.ta@example.net"
    wait_until(lambda: mail_to(sink, person), f"the campaign mail to {person}")
    [mail] = mail_to(sink, person)
    one_click = re.search(r"<(http://[^>]+)>", str(mail["List-Unsubscribe"]))
    assert one_click, mail["List-Unsubscribe"]

    # RFC 8058: the mailbox provider POSTs; a second POST (a provider retrying) changes nothing.
    provider = Visitor(product.base_url)
    for _ in range(2):
        answer = provider.post(one_click[1], [("List-Unsubscribe", "One-Click")])
        assert answer.status == 200, answer.body[:2000]

    wait_until(lambda: receiver.of_type("consent.withdrawn"), "the webhook reaches the receiver")
    time.sleep(3)  # a worker and a scheduler round more: nothing else may arrive
    [event] = receiver.of_type("consent.withdrawn")
    assert all(p.signature_ok for p in receiver.posts)
    assert {p.event["id"] for p in receiver.posts} == {event["id"]}
    assert event["data"]["purpose"] == "promotions" and event["data"]["channel"] == "one_click"
    assert person not in json.dumps(event)  # ids, not the address

    status, log = api(product, found[1], f"/webhook-endpoints/{endpoint['id']}/deliveries")
    assert status == 200 and [d["status"] for d in log["items"]] == ["delivered"], log
