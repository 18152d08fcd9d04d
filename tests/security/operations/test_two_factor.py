"""Attacks on two-step sign-in with a stolen password, through the real pages."""

from __future__ import annotations

import threading
from datetime import timedelta

import pyotp
import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import StaffUser, utcnow
from tests.integration.operations.test_two_factor import code_step, password_step
from tests.integration.test_admin_support import PASSWORD, browser, csrf_token, make_staff

SKIP = {"admin.login", "admin.two_factor", "admin.two_factor_enrol", "admin.static"}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


def wrong_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    return next(c for c in ("123456", "654321", "111111") if not totp.verify(c, valid_window=2))


def test_the_password_alone_opens_no_admin_page(app: Flask, client: FlaskClient) -> None:
    make_staff("admin@example.com", "admin")
    assert password_step(client, "admin@example.com").endswith("/admin/two-factor")
    reached = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP or not rule.endpoint.startswith("admin.") or rule.arguments:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": csrf_token(client, "/admin/two-factor"), "email": "x@example.com"}
            response = client.open(rule.rule, method=method, data=data)
            if response.status_code != 302 or "/admin/login" not in response.headers["Location"]:
                reached.append((rule.rule, method, response.status_code))
    # Changing the page language is the one thing open to anyone, signed in or not.
    assert [r for r in reached if r[0] != "/admin/language"] == []
    assert db.session.scalar(db.select(db.func.count()).select_from(StaffUser)) == 1


def test_typing_the_password_again_does_not_reset_the_guesses_at_the_code(
    app: Flask, client: FlaskClient
) -> None:
    user = make_staff("admin@example.com", "admin")
    password_step(client, "admin@example.com")
    for _ in range(4):
        assert code_step(client, wrong_code(user.totp_secret)).status_code == 401  # type: ignore[attr-defined]
    password_step(client, "admin@example.com")  # the right password, again
    assert code_step(client, wrong_code(user.totp_secret)).status_code == 401  # type: ignore[attr-defined]
    db.session.refresh(user)
    assert user.locked_until is not None and user.locked_until > utcnow()
    locked = code_step(client, pyotp.TOTP(user.totp_secret).now())
    assert locked.status_code == 401 and "tạm khóa" in locked.get_data(as_text=True)  # type: ignore[attr-defined]
    # Locked: the right password and the right code no longer open anything.
    token = csrf_token(client)
    response = client.post(
        "/admin/login",
        data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 401 and "tạm khóa" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_a_pending_sign_in_cannot_finish_after_ten_minutes(app: Flask, client: FlaskClient) -> None:
    user = make_staff("admin@example.com", "admin")
    password_step(client, "admin@example.com")
    token = csrf_token(client, "/admin/two-factor")
    with time_machine.travel(utcnow() + timedelta(minutes=11), tick=True):
        code = pyotp.TOTP(user.totp_secret).now()
        response = client.post("/admin/two-factor", data={"code": code, "csrf_token": token})
        assert response.status_code == 302  # type: ignore[attr-defined]
        assert "/admin/login" in response.headers["Location"]  # type: ignore[attr-defined]
        assert client.get("/admin/").status_code == 302


def test_one_account_s_password_and_another_s_code_open_nothing(
    app: Flask, client: FlaskClient
) -> None:
    make_staff("victim@example.com", "admin")
    attacker = make_staff("insider@example.com", "admin")
    password_step(client, "victim@example.com")
    response = code_step(client, pyotp.TOTP(attacker.totp_secret).now())
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert client.get("/admin/").status_code == 302


def test_the_same_code_sent_twice_at_once_signs_in_once(app: Flask) -> None:
    """A code captured in flight and raced against its owner's own request."""
    user = make_staff("admin@example.com", "admin")
    code = pyotp.TOTP(user.totp_secret).now()
    clients = [app.test_client() for _ in range(2)]
    for each in clients:
        with app.app_context():
            password_step(each, "admin@example.com")
    tokens = []
    for each in clients:
        with app.app_context():
            tokens.append(csrf_token(each, "/admin/two-factor"))
    start, statuses = threading.Barrier(2), []

    def submit(each: FlaskClient, token: str) -> None:
        start.wait()
        response = each.post("/admin/two-factor", data={"code": code, "csrf_token": token})
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=submit, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [302, 401]
