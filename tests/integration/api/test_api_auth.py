"""Keys, scopes, rate limits and hostile requests: every answer is a documented problem."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import ApiKey
from notifier.operations import staff
from tests.conftest import configure
from tests.integration.helpers import committed
from tests.integration.test_api_support import (
    bearer,
    conforms,
    issue_key,
    notice_body,
    renewal_type,
)

TYPES = "/notice-types"


def test_missing_wrong_and_revoked_keys_get_the_same_401(app: Flask, client: FlaskClient) -> None:
    good = issue_key("notices")
    prefix = good.split("_")[1]
    revoked = issue_key("notices")
    with committed():
        staff.revoke_api_key(
            db.session.scalar(db.select(ApiKey.id).where(ApiKey.prefix == revoked.split("_")[1]))
        )
    assert client.get(f"/api/v1{TYPES}", headers=bearer(revoked)).status_code == 401
    attempts = [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        bearer("nonsense"),
        bearer(f"ntf_{prefix}_wrong-secret"),
        bearer("ntf_000000000000_x"),
        bearer(revoked),
    ]
    bodies = []
    for headers in attempts:
        response = client.get(f"/api/v1{TYPES}", headers=headers)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        bodies.append(conforms(response, "get", TYPES))
    assert all(body == bodies[0] for body in bodies)
    assert client.get(f"/api/v1{TYPES}", headers=bearer(good)).status_code == 200


def test_revocation_takes_effect_at_once(app: Flask, client: FlaskClient) -> None:
    plain = issue_key("notices")
    assert client.get(f"/api/v1{TYPES}", headers=bearer(plain)).status_code == 200
    key_id = db.session.scalar(db.select(ApiKey.id).where(ApiKey.prefix == plain.split("_")[1]))
    with committed():
        staff.revoke_api_key(key_id)
    assert client.get(f"/api/v1{TYPES}", headers=bearer(plain)).status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/notice-types"),
        ("get", "/contacts/KH-1"),
        ("post", "/templates"),
        ("post", "/campaigns/1/pause"),
    ],
)
def test_a_key_without_the_scope_gets_403(
    app: Flask, client: FlaskClient, method: str, path: str
) -> None:
    scope = {
        "notice-types": "notices",
        "contacts": "contacts",
        "templates": "templates",
        "campaigns": "campaigns",
    }[path.split("/")[1]]
    others = [s for s in ("notices", "contacts", "campaigns", "templates") if s != scope]
    response = client.open(
        f"/api/v1{path}", method=method.upper(), json={}, headers=bearer(issue_key(*others))
    )
    assert response.status_code == 403 and scope in response.get_json()["detail"]
    assert response.mimetype == "application/problem+json"


def test_the_rate_limit_answers_429_with_retry_after(app: Flask, client: FlaskClient) -> None:
    configure(app, API_RATE_LIMIT=3, API_RATE_WINDOW=60)
    plain, other = issue_key("notices"), issue_key("notices")
    codes = [client.get(f"/api/v1{TYPES}", headers=bearer(plain)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get(f"/api/v1{TYPES}", headers=bearer(plain))
    conforms(limited, "get", TYPES)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert client.get(f"/api/v1{TYPES}", headers=bearer(other)).status_code == 200


def test_hostile_bodies_get_clear_4xx_answers(app: Flask, client: FlaskClient) -> None:
    headers = {**bearer(issue_key()), "Idempotency-Key": "k"}
    cases = [
        (b"x" * 300_000, "application/json", 413),
        (b"type=renewal", "application/x-www-form-urlencoded", 415),
        (b'{"type": ', "application/json", 400),
        (b'{"type": NaN}', "application/json", 400),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
        (b'{"type": "renewal\\u0000"}', "application/json", 422),
        (b'{"type": "\\ud800"}', "application/json", 422),
        (b"\xff\xfe", "application/json", 400),
        (b"[]", "application/json", 422),
    ]
    for body, content_type, expected in cases:
        response = client.post(
            "/api/v1/notices", data=body, content_type=content_type, headers=headers
        )
        assert response.status_code == expected, (body[:20], response.get_json())
        conforms(response, "post", "/notices")


def test_header_injection_in_names_is_refused(app: Flask, client: FlaskClient) -> None:
    renewal_type()  # shipped by setup; defined here so the answer is about the name alone
    body = notice_body()
    body["contact"]["name"] = "An\r\nBcc: victim@example.com"
    response = client.post(
        "/api/v1/notices", json=body, headers={**bearer(issue_key()), "Idempotency-Key": "k"}
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["contact.name"]


def test_unknown_paths_and_methods_are_problems_too(app: Flask, client: FlaskClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    wrong = client.delete("/api/v1/notices")
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    assert wrong.mimetype == "application/problem+json"
    assert client.get("/no-api-here").mimetype != "application/problem+json"


def test_the_contract_and_its_docs_are_public(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1") and "/notices" in spec["paths"]
    page = client.get("/api/v1/docs")
    text = page.get_data(as_text=True)
    assert (
        page.status_code == 200
        and "<script" not in text
        and "http" not in text.split("<style>")[0].replace("http-equiv", "")
    )
    assert "/notices/{notice_id}" in text and "Idempotency-Key" in text
