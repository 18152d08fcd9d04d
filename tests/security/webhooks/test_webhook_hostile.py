"""Hostile webhook endpoints, through the real admin form and API: addresses inside our network
(SSRF), a name that turns internal after it was saved, huge answers, silent and trickling
receivers, redirects. Each must end as a refusal or a failed attempt within the timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.contacts import consent_ledger as consent
from notifier.infra.extensions import db
from notifier.models import ConsentSource, WebhookDelivery, WebhookEndpoint, WebhookStatus
from notifier.operations import webhook_endpoints as endpoints
from tests.conftest import configure
from tests.integration.helpers import committed, drain, make_contact
from tests.integration.test_admin_support import browser, make_staff, post, sign_in
from tests.integration.test_api_support import bearer, issue_key
from tests.webhook_receiver import Receiver, receiving

INTERNAL = [
    "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "http://10.0.0.1/",
    "https://169.254.169.254/",
    "https://10.0.0.1/hook",
    "http://127.0.0.1:6379/",  # Redis on this machine
    "https://localhost/",
    "https://[::1]/",
    "https://[::ffff:10.0.0.1]/",
    "https://2852039166/",  # 169.254.169.254 written as one number
    "https://0x7f000001/",
]
TIMEOUT = 2.0


def endpoint_count() -> int:
    db.session.remove()
    return int(db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0)


@pytest.fixture
def admin_client(app: Flask) -> FlaskClient:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = browser(app)
    make_staff("admin@example.com", "admin")
    sign_in(client, "admin@example.com")
    return client


@pytest.mark.parametrize("url", INTERNAL)
def test_the_admin_form_refuses_an_internal_address_by_default(
    admin_client: FlaskClient, url: str
) -> None:
    answer = post(admin_client, "/admin/webhooks", {"url": url, "events": ["consent.withdrawn"]})
    page = answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert answer.status_code == 422, page[:2000]  # type: ignore[attr-defined]
    assert "là địa chỉ nội bộ" in page or "phải là địa chỉ https://" in page, page[:3000]
    assert 'data-testid="webhook-secret"' not in page
    assert endpoint_count() == 0


@pytest.mark.parametrize("url", INTERNAL)
def test_the_api_refuses_an_internal_address_by_default(
    app: Flask, client: FlaskClient, url: str
) -> None:
    key = issue_key("webhooks")
    answer = client.post(
        "/api/v1/webhook-endpoints",
        json={"url": url, "events": ["consent.withdrawn"]},
        headers=bearer(key),
    )
    assert answer.status_code == 422, answer.get_json()
    problem = answer.get_json()
    assert problem["errors"][0]["field"] == "url", problem
    assert "secret" not in problem
    assert endpoint_count() == 0


def test_a_user_name_in_the_url_or_another_scheme_is_refused(
    app: Flask, client: FlaskClient
) -> None:
    key = issue_key("webhooks")
    for url in ("https://user:pw@example.com/", "ftp://example.com/", "file:///etc/passwd",
                "gopher://127.0.0.1:6379/_FLUSHALL", "https://exa mple.com/"):  # fmt: skip
        answer = client.post(
            "/api/v1/webhook-endpoints",
            json={"url": url, "events": ["consent.withdrawn"]},
            headers=bearer(key),
        )
        assert answer.status_code == 422, (url, answer.get_json())
    assert endpoint_count() == 0


def test_only_the_admin_role_and_the_webhooks_scope_manage_endpoints(
    app: Flask, client: FlaskClient
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    marketing = browser(app)
    make_staff("mkt@example.com", "marketing")
    sign_in(marketing, "mkt@example.com")
    assert marketing.get("/admin/webhooks").status_code == 403
    answer = post(
        marketing,
        "/admin/webhooks",
        {"url": "https://example.com/", "events": ["consent.withdrawn"]},
    )
    assert answer.status_code == 403  # type: ignore[attr-defined]
    key = issue_key("notices", "contacts", "campaigns", "templates")
    assert client.get("/api/v1/webhook-endpoints", headers=bearer(key)).status_code == 403
    assert endpoint_count() == 0


# ---- receivers that misbehave -------------------------------------------------------------


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    configure(
        app,
        WEBHOOK_ALLOWED_NETWORKS=["127.0.0.1/32"],
        WEBHOOK_TIMEOUT_SECONDS=TIMEOUT,
        WEBHOOK_RETRY_SECONDS=60,
    )
    with receiving() as server:
        with committed():
            _, server.secret = endpoints.create(server.url, ["consent.withdrawn"], "", "test")
        yield server


def one_attempt(app: Flask) -> tuple[WebhookDelivery, float]:
    contact = make_contact("an@example.com", grants=("promotions",))
    with committed():
        consent.withdraw(contact, ["promotions"], consent.Evidence(source=ConsentSource.STAFF))
    started = time.monotonic()
    drain(app)
    took = time.monotonic() - started
    db.session.remove()
    [row] = db.session.scalars(select(WebhookDelivery)).all()
    return row, took


@pytest.mark.parametrize("answer", ["hang", "trickle"])
def test_a_silent_or_trickling_receiver_is_cut_off_at_the_timeout(
    app: Flask, receiver: Receiver, answer: str
) -> None:
    receiver.script = [answer]
    row, took = one_attempt(app)
    assert took < TIMEOUT + 8, took  # the worker is free again, not held for the 120 s
    assert (row.status, row.attempts) == (WebhookStatus.PENDING, 1)
    assert row.last_error == f"timed out after {TIMEOUT:g} s", row.last_error
    assert row.next_attempt_at is not None  # retried later, same event id


def test_a_huge_answer_is_read_no_further_than_the_limit(app: Flask, receiver: Receiver) -> None:
    receiver.script = ["huge"]
    row, took = one_attempt(app)
    assert took < TIMEOUT + 8
    assert row.status == WebhookStatus.DELIVERED and row.last_status_code == 200
    assert len(row.last_response) <= 500 and set(row.last_response) == {"x"}


def test_a_redirect_is_not_followed(app: Flask, receiver: Receiver) -> None:
    receiver.script = [302]
    row, _ = one_attempt(app)
    assert (row.status, row.last_status_code) == (WebhookStatus.PENDING, 302)
    assert len(receiver.posts) == 1


def test_an_endpoint_whose_address_is_no_longer_allowed_gets_nothing(
    app: Flask, receiver: Receiver
) -> None:
    # The address is checked again before every attempt, and the connection goes to the address
    # that was checked: a name re-pointed inside the network after it was saved reaches nothing.
    configure(app, WEBHOOK_ALLOWED_NETWORKS=[])
    row, _ = one_attempt(app)
    assert receiver.posts == []
    assert row.status == WebhookStatus.PENDING
    assert row.last_error.startswith("refused: 127.0.0.1 is an internal address"), row.last_error
