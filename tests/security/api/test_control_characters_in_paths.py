"""A path segment with a control character (%00 above all) is 404, never a 500.

PostgreSQL refuses NUL in text outright (psycopg.DataError), so a key, an external id or a token
that reached a query with one answered 500 there (found for `PUT /api/v1/notice-types/%00`).
No stored key, id or token holds a control character: the app refuses such a segment before any
view runs, for the API, the admin pages and the public links alike.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.integration.helpers import make_contact
from tests.integration.test_api_support import bearer, issue_key, renewal_type

API_PATHS = [
    ("GET", "/api/v1/contacts/%00"),
    ("GET", "/api/v1/contacts/KH%00/consents"),
    ("GET", "/api/v1/contacts/%01/subscriptions"),
    ("GET", "/api/v1/subscriptions/%00"),
    ("PUT", "/api/v1/subscriptions/x%00"),
    ("GET", "/api/v1/notice-types/%00"),
    ("PUT", "/api/v1/notice-types/%00"),
    ("PUT", "/api/v1/notice-types/renewal%00/template"),
    ("GET", "/api/v1/notice-types/%00/schedule"),
]
PAGE_PATHS = [
    "/u/%00", "/p/%00", "/p/a%00b/history", "/email/%00", "/r/%00", "/confirm/%00",
    "/admin/notices/types/%00/reminders", "/admin/contacts/import/%00",
]  # fmt: skip


@pytest.mark.parametrize(("method", "path"), API_PATHS)
def test_an_api_path_with_a_control_character_is_not_found(
    app: Flask, client: FlaskClient, method: str, path: str
) -> None:
    renewal_type()
    make_contact("khach@example.com", external_ref="KH")
    response = client.open(path, method=method, json={}, headers=bearer(issue_key()))
    assert response.status_code == 404, response.get_data(as_text=True)[:300]
    assert response.is_json  # the API's own error body, not an HTML page


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_a_page_with_a_control_character_is_not_found(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, response.get_data(as_text=True)[:300]
