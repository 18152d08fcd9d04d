"""Issue #13.2: an API key reads only the notices it triggered."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.notices import notices
from tests.integration.helpers import committed, make_contact
from tests.integration.test_api_support import bearer, issue_key, notice_body, renewal_type


def test_another_clients_key_gets_404_for_a_notice_it_did_not_trigger(
    app: Flask, client: FlaskClient
) -> None:
    renewal_type()
    owner, other = issue_key("notices"), issue_key("notices")
    created = client.post(
        "/api/v1/notices", json=notice_body(), headers={**bearer(owner), "Idempotency-Key": "a"}
    )
    assert created.status_code == 202
    url = created.get_json()["status_url"]

    stolen = client.get(url, headers=bearer(other))
    assert stolen.status_code == 404
    assert stolen.mimetype == "application/problem+json"
    assert "khach@example.com" not in stolen.get_data(as_text=True)
    assert "KH-001" not in stolen.get_data(as_text=True)
    assert client.get(url, headers=bearer(owner)).status_code == 200


def test_a_notice_staff_triggered_is_no_keys_business(app: Flask, client: FlaskClient) -> None:
    renewal_type()
    contact_id = make_contact("an@example.com")
    with committed():
        made = notices.trigger("renewal", contact_id, {}, "staff-1", "f" * 64)
    db.session.commit()
    response = client.get(f"/api/v1/notices/{made.notice.id}", headers=bearer(issue_key()))
    assert response.status_code == 404
