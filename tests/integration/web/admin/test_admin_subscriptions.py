"""The contact page lists the contact's services only for roles granted the `subscriptions`
field group (the policy profile's contact_fields), and says so in the audit row."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import AuditEntry, Subscription
from tests.integration.helpers import committed, make_contact
from tests.integration.test_admin_support import browser, make_staff, sign_in


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


def held(contact_id: int) -> None:
    with committed():
        db.session.add(
            Subscription(
                source="billing", external_id="D-1", contact_id=contact_id, kind="domain",
                name="hoalan.vn", plan="Tên miền .vn", expires_on=date(2027, 1, 15),
                amount=Decimal("750000"), currency="VND", status="active", attributes={},
            )
        )  # fmt: skip


def test_a_role_with_the_group_sees_the_services(app: Flask, client: FlaskClient) -> None:
    contact_id = make_contact("an@example.com", name="An")
    held(contact_id)
    make_staff("quanly@example.com", "management")
    sign_in(client, "quanly@example.com")
    page = client.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    assert "Dịch vụ đang dùng" in page and 'data-subscription="D-1"' in page
    assert "hoalan.vn" in page and "2027-01-15" in page
    shown = db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == "contacts.view")
    ).all()[-1]
    assert "subscriptions" in shown.details["shown"]


def test_a_role_without_it_does_not(app: Flask, client: FlaskClient) -> None:
    contact_id = make_contact("an@example.com", name="An")
    held(contact_id)
    make_staff("tiepthi@example.com", "marketing")
    sign_in(client, "tiepthi@example.com")
    page = client.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    assert "hoalan.vn" not in page and "Dịch vụ đang dùng" not in page
