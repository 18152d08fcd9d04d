"""Issue #13.8: every public page refuses framing, caching, Referer leaks and foreign scripts."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from tests.integration.helpers import make_contact
from tests.integration.public_helpers import (
    preferences_token,
    unsubscribe_token,
    verified_link,
)


def _pages(client: FlaskClient) -> list[tuple[str, str]]:
    contact_id = make_contact("an@example.com", grants=("promotions",), phone="0901234567")
    receipt = consent.history(contact_id)[0].id
    p, u = preferences_token(contact_id), unsubscribe_token(contact_id, "promotions")
    return [
        ("GET", f"/u/{u}"),
        ("POST", f"/u/{u}"),  # RFC 8058 one-click: no form, no cookie
        ("GET", f"/p/{p}"),
        ("GET", f"/p/{p}/history"),
        ("GET", f"/p/{p}/receipt/{receipt}"),
        ("GET", f"/p/{p}/receipt/{receipt}?download=1"),
        ("GET", f"/p/{p}/privacy"),
        ("GET", verified_link(client, contact_id, "export")),
        ("GET", "/subscribe"),
        ("GET", "/confirm/abc"),
        ("GET", "/email/abc"),
        ("GET", "/p/not-a-token"),  # the friendly 404 names nobody, but carries the headers too
    ]


EXPECTED = {
    "X-Frame-Options": lambda v: v == "DENY",
    "Referrer-Policy": lambda v: v == "no-referrer",
    "Cache-Control": lambda v: "no-store" in v,
    "X-Content-Type-Options": lambda v: v == "nosniff",
}


@pytest.mark.parametrize("header", sorted(EXPECTED))
def test_every_public_page_sends(app: Flask, client: FlaskClient, header: str) -> None:
    for method, path in _pages(client):
        data = {"List-Unsubscribe": "One-Click"} if method == "POST" else None
        response = client.open(path, method=method, data=data)
        value = response.headers.get(header, "")
        assert EXPECTED[header](value), f"{method} {path}: {header}={value!r}"


def test_every_public_page_has_a_strict_content_security_policy(
    app: Flask, client: FlaskClient
) -> None:
    for method, path in _pages(client):
        data = {"List-Unsubscribe": "One-Click"} if method == "POST" else None
        policy = client.open(path, method=method, data=data).headers.get(
            "Content-Security-Policy", ""
        )
        rules = dict(part.strip().partition(" ")[::2] for part in policy.split(";"))
        assert rules.get("frame-ancestors") == "'none'", path
        assert rules.get("default-src") == "'none'", path
        assert rules.get("script-src") == "'self'", path  # no inline script, no eval
        assert "unsafe" not in policy, path
        assert rules.get("form-action") == "'self'", path
