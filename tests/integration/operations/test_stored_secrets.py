"""A copy of the database gives no way in: API keys and staff passwords are stored as argon2id."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import ApiKey, StaffUser
from tests.integration.test_admin_support import (
    PASSWORD,
    browser,
    csrf_token,
    make_staff,
    sign_in,
)
from tests.integration.test_api_support import bearer, issue_key

TYPES = "/api/v1/notice-types"


def test_a_stolen_api_key_hash_is_not_a_key(app: Flask, client: FlaskClient) -> None:
    key = issue_key("notices")
    prefix = key.split("_")[1]
    stored = db.session.scalar(db.select(ApiKey).where(ApiKey.prefix == prefix))
    assert stored is not None and stored.key_hash.startswith("$argon2id$")
    assert key.split("_", 2)[2] not in stored.key_hash
    for stolen in (stored.key_hash, f"ntf_{prefix}_{stored.key_hash}"):
        assert client.get(TYPES, headers=bearer(stolen)).status_code == 401
    assert client.get(TYPES, headers=bearer(key)).status_code == 200


def test_a_stolen_password_hash_does_not_sign_in(app: Flask) -> None:
    user = make_staff("lan@example.com", "admin")
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    client = browser(app)
    response = client.post(
        "/admin/login",
        data={
            "email": "lan@example.com",
            "password": user.password_hash,
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 401
    assert client.get("/admin/").status_code == 302  # still signed out
    user = db.session.scalar(db.select(StaffUser).where(StaffUser.email == "lan@example.com"))
    assert user is not None and user.failed_logins == 1
    sign_in(client, "lan@example.com")  # the password itself still works
