"""Managing endpoints through the API and the admin pages: the secret once, rotation, the
delivery log and redeliver; answers conform to the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.models import ConsentSource
from tests.conftest import configure
from tests.integration.helpers import committed, drain, make_contact
from tests.integration.test_admin_support import browser, make_staff, post, sign_in
from tests.integration.test_api_support import bearer, conforms, issue_key
from tests.webhook_receiver import Receiver, receiving


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    configure(app, WEBHOOK_ALLOWED_NETWORKS=["127.0.0.1/32"])
    with receiving() as server:
        yield server


def withdraw_someone(app: Flask) -> None:
    contact = make_contact("an@example.com", grants=("promotions",))
    with committed():
        consent.withdraw(contact, ["promotions"], consent.Evidence(source=ConsentSource.STAFF))
    drain(app)


def test_the_api_manages_an_endpoint_and_reads_its_log(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    auth = bearer(issue_key("webhooks"))
    created = client.post(
        "/api/v1/webhook-endpoints",
        json={"url": receiver.url, "events": ["consent.withdrawn"], "description": "billing"},
        headers=auth,
    )
    assert created.status_code == 201, created.get_json()
    body = conforms(created, "POST", "/webhook-endpoints")
    receiver.secret, endpoint = body["secret"], body["id"]
    assert body["secret"].startswith("whsec_") and body["enabled"] is True

    listed = client.get("/api/v1/webhook-endpoints", headers=auth)
    assert body["secret"] not in listed.get_data(as_text=True)
    assert '"secret"' not in listed.get_data(as_text=True)
    conforms(listed, "GET", "/webhook-endpoints")

    withdraw_someone(app)
    assert len(receiver.accepted) == 1 and all(p.signature_ok for p in receiver.posts)
    log = client.get(f"/api/v1/webhook-endpoints/{endpoint}/deliveries", headers=auth)
    [entry] = conforms(log, "GET", "/webhook-endpoints/{endpoint_id}/deliveries")["items"]
    assert (entry["status"], entry["attempts"], entry["last_status_code"]) == ("delivered", 1, 200)
    assert entry["event_id"] in receiver.accepted

    # Rotation: the old secret no longer verifies what is sent next.
    rotated = client.post(f"/api/v1/webhook-endpoints/{endpoint}/rotate-secret", headers=auth)
    new_secret = conforms(rotated, "POST", "/webhook-endpoints/{endpoint_id}/rotate-secret")[
        "secret"
    ]
    assert new_secret != receiver.secret
    again = client.post(f"/api/v1/webhook-deliveries/{entry['id']}/redeliver", headers=auth)
    conforms(again, "POST", "/webhook-deliveries/{delivery_id}/redeliver")
    drain(app)
    assert receiver.posts[-1].signature_ok is False  # signed with the new secret
    receiver.secret = new_secret
    client.post(f"/api/v1/webhook-deliveries/{entry['id']}/redeliver", headers=auth)
    drain(app)
    assert receiver.posts[-1].signature_ok and receiver.duplicates == 1  # same id: dropped

    off = client.patch(
        f"/api/v1/webhook-endpoints/{endpoint}", json={"enabled": False}, headers=auth
    )
    assert conforms(off, "PATCH", "/webhook-endpoints/{endpoint_id}")["enabled"] is False
    posts = len(receiver.posts)
    withdraw_someone_else = make_contact("binh@example.com", grants=("promotions",))
    with committed():
        consent.withdraw(
            withdraw_someone_else, ["promotions"], consent.Evidence(source=ConsentSource.STAFF)
        )
    drain(app)
    assert len(receiver.posts) == posts
    assert client.get("/api/v1/webhook-endpoints/999", headers=auth).status_code == 404
    bad = client.post(
        "/api/v1/webhook-endpoints",
        json={"url": receiver.url, "events": ["contact.deleted"]},
        headers=auth,
    )
    assert bad.status_code == 422


def test_the_admin_adds_an_endpoint_sees_the_secret_once_and_redelivers(
    app: Flask, receiver: Receiver
) -> None:
    client = browser(app)
    make_staff("admin@example.com", "admin")
    sign_in(client, "admin@example.com")
    answer = post(
        client,
        "/admin/webhooks",
        {"url": receiver.url, "events": ["consent.withdrawn", "campaign.finished"]},
    )
    page = answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert answer.status_code == 201, page[:2000]  # type: ignore[attr-defined]
    found = re.search(r'data-testid="webhook-secret">(whsec_[^<]+)<', page)
    assert found, page[:3000]
    receiver.secret = found[1]
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert found[1] not in listing and receiver.url in listing
    assert "Điểm nhận webhook" in listing  # Vietnamese by default

    receiver.script = [500]
    withdraw_someone(app)
    endpoint = re.search(r'href="/admin/webhooks/(\d+)"', listing)
    assert endpoint, listing[:3000]
    log = client.get(f"/admin/webhooks/{endpoint[1]}").get_data(as_text=True)
    assert "HTTP 500" in log and "đang chờ" in log and "consent.withdrawn" in log
    delivery = re.search(r'action="/admin/webhooks/deliveries/(\d+)/redeliver"', log)
    assert delivery, log[:3000]
    done = post(
        client,
        f"/admin/webhooks/deliveries/{delivery[1]}/redeliver",
        {"endpoint_id": endpoint[1]},
    )
    assert done.status_code == 302  # type: ignore[attr-defined]
    drain(app)
    log = client.get(f"/admin/webhooks/{endpoint[1]}").get_data(as_text=True)
    assert "đã nhận" in log and "HTTP 200" in log
    assert len(receiver.accepted) == 1

    english = client.get("/admin/webhooks", headers={"Accept-Language": "en"})
    assert english.status_code == 200
