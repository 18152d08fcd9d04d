"""Shared steps for the admin tests: staff accounts, signing in, and the CSRF token of a page."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from flask import Flask, g
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import StaffUser, utcnow
from notifier.operations.sign_in import role_requires_two_factor
from notifier.operations.staff import create_staff
from tests.integration.helpers import committed

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


def make_staff(email: str, role: str, name: str = "") -> StaffUser:
    """An account as its owner leaves it: enrolled in two-step verification where the role says."""
    with committed():
        user, _ = create_staff(email, role, name=name, password=PASSWORD)
    if role_requires_two_factor(role):
        enrol(user)
    return user


def enrol(user: StaffUser) -> str:
    """An authenticator app set up for the account; returns the secret the phone holds.

    tests/integration/operations/test_two_factor.py drives the enrolment page itself.
    """
    user.totp_secret, user.totp_enrolled_at = pyotp.random_base32(32), utcnow()
    db.session.commit()
    return user.totp_secret


def current_code(email: str) -> str:
    """What the staff member's phone shows: the product refuses a code whose 30-second step was
    used already, so a second sign-in within a step takes the next one (inside the window), and
    a third waits for the clock, as a person would."""
    user = db.session.scalar(db.select(StaffUser).where(StaffUser.email == email))
    assert user is not None and user.totp_secret, f"{email} has not enrolled"
    db.session.refresh(user)
    totp = pyotp.TOTP(user.totp_secret)
    while True:
        step = totp.timecode(utcnow())
        usable = step if user.totp_last_step is None else max(step, user.totp_last_step + 1)
        if usable <= step + 1:
            return totp.generate_otp(usable)
        time.sleep(1)


class Browser(FlaskClient):
    """A test client whose requests do not see each other's flask.g.

    The app fixture keeps one app context open for the whole test, and every request reuses it,
    so flask.g outlives a request: Flask-Login caches the signed-in user there and Flask-WTF the
    CSRF token. In production each request has its own context; this client restores that.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        for name in ("_login_user", "csrf_token"):
            g.pop(name, None)
        return super().open(*args, **kwargs)


def browser(app: Flask) -> FlaskClient:
    """What the admin test modules' `client` fixture returns instead of conftest's."""
    app.test_client_class = Browser
    return app.test_client()


def csrf_token(client: FlaskClient, path: str = "/admin/login") -> str:
    page = client.get(path).get_data(as_text=True)
    found = TOKEN.search(page)
    assert found, f"no CSRF token on {path}"
    return found[1]


def sign_in(
    client: FlaskClient, email: str, password: str = PASSWORD, code: str | None = None
) -> None:
    """The password, then (for an enrolled account) the code its phone shows, or `code`."""
    token = csrf_token(client)
    response = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    if response.headers["Location"].endswith("/admin/two-factor"):
        token = csrf_token(client, "/admin/two-factor")
        second = {"code": code or current_code(email), "csrf_token": token}
        response = client.post("/admin/two-factor", data=second)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert response.headers["Location"].endswith("/admin/"), response.headers["Location"]


def post(client: FlaskClient, path: str, data: dict | None = None, **kwargs: object) -> object:
    """A POST carrying a valid CSRF token, as a browser submitting the page's form would."""
    return client.post(
        path, data={**(data or {}), "csrf_token": csrf_token(client, "/admin/")}, **kwargs
    )
