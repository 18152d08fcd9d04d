"""Shared parts of the API tests: keys, a renewal notice type, a live server, the contract."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from notifier.api.docs import document
from notifier.notices import notices
from notifier.operations import staff
from tests.conftest import configure
from tests.integration.helpers import committed, layout_template
from tests.smtp_server import SmtpTestServer

ALL_SCOPES = ["notices", "contacts", "campaigns", "templates", "subscriptions"]
RENEWAL_DATA = {
    "brand": "DCNET",
    "service_name": "Hosting Pro dcnet.vn",
    "account_ref": "KH-001",
    "expires_on": "2026-08-15",
    "amount": 1250000,
    "currency": "VND",
    "renew_url": "https://dcnet.vn/gia-han/KH-001",
}


def issue_key(*scopes: str) -> str:
    with committed():
        return staff.create_api_key("billing", list(scopes or ALL_SCOPES)).plaintext


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def renewal_type() -> str:
    with committed():
        notices.define_notice_type(
            "renewal", "Renewal notice", "renewal", layout_template("renewal", "renewal")
        )
    return "renewal"


def notice_body(ref: str = "KH-001", email: str = "khach@example.com", **extra: Any) -> dict:
    return {
        "type": "renewal",
        "contact": {"external_ref": ref, "email": email, "name": "Nguyễn Văn An", "locale": "vi"},
        "data": RENEWAL_DATA,
        **extra,
    }


def conforms(response: TestResponse, method: str, path: str) -> Any:
    """The response is one the OpenAPI document promises for this operation; returns its JSON."""
    contract = document()  # the app's own: its profile's purposes, its notice types
    registry: Registry = Registry().with_resource(
        "urn:contract", Resource.from_contents(contract, default_specification=DRAFT202012)
    )
    operation = contract["paths"][path][method.lower()]
    answers = operation["responses"]
    assert str(response.status_code) in answers, f"{response.status_code} undocumented for {path}"
    content = answers[str(response.status_code)]["content"]
    assert response.mimetype in content, f"{response.mimetype} not documented"
    schema = content[response.mimetype]["schema"]
    pointer = schema["$ref"].removeprefix("#")
    validator = Draft202012Validator({"$ref": f"urn:contract#{pointer}"}, registry=registry)
    body = response.get_json()
    validator.validate(body)
    return body


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url)
        yield server


@pytest.fixture
def key(app: Flask) -> str:
    return issue_key()


@pytest.fixture
def api(client: FlaskClient, key: str) -> FlaskClient:
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app behind a real threaded HTTP server, for requests that must truly overlap."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
