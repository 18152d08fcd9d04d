"""Issue #13 item 4: a subject's export holds the whole record, so only a role seeing it all may."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import AuditEntry, PrivacyRequest
from notifier.privacy import requests as privacy
from tests.integration.helpers import committed, make_contact
from tests.integration.test_admin_support import browser, make_staff, post, sign_in


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


@pytest.fixture
def request_id() -> int:
    contact_id = make_contact(
        "lan@example.com", name="Lan", tags=["vip-secret"], attributes={"plan": "gold-secret"}
    )
    with committed():
        return privacy.request_restriction(contact_id, privacy.Requester("203.0.113.9", "UA")).id


def _exports() -> int:
    query = db.select(db.func.count()).select_from(AuditEntry)
    return db.session.scalar(query.where(AuditEntry.action == "privacy.export")) or 0


def test_a_role_that_cannot_see_tags_or_attributes_cannot_export(
    client: FlaskClient, request_id: int
) -> None:
    before = db.session.get(PrivacyRequest, request_id).status
    make_staff("sic@example.com", "staff_in_charge")
    sign_in(client, "sic@example.com")
    response = post(client, f"/admin/privacy/{request_id}/export")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "gold-secret" not in page and "vip-secret" not in page
    detail = page.split('data-testid="error-detail">')[1].split("</p>")[0]
    assert "tags" in detail and "attributes" in detail and "cấp quản lý" in detail
    assert _exports() == 0
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, request_id).status == before


def test_a_role_that_sees_every_exported_field_gets_the_export(
    client: FlaskClient, request_id: int
) -> None:
    make_staff("boss@example.com", "management")
    sign_in(client, "boss@example.com")
    response = post(client, f"/admin/privacy/{request_id}/export")
    assert response.status_code == 200
    data = json.loads(response.get_data(as_text=True))
    assert data["contact"]["attributes"] == {"plan": "gold-secret"}
    assert _exports() == 1
