"""Shared steps for the admin tests: staff accounts, signing in, and the CSRF token of a page."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, g
from flask.testing import FlaskClient

from notifier.models import StaffUser
from notifier.operations.staff import create_staff

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


def make_staff(email: str, role: str, name: str = "") -> StaffUser:
    user, _ = create_staff(email, role, name=name, password=PASSWORD)
    return user


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


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    token = csrf_token(client)
    response = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def post(client: FlaskClient, path: str, data: dict | None = None, **kwargs: object) -> object:
    """A POST carrying a valid CSRF token, as a browser submitting the page's form would."""
    return client.post(
        path, data={**(data or {}), "csrf_token": csrf_token(client, "/admin/")}, **kwargs
    )
