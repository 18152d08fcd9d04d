"""Issue #13 item 8 (staff half): bad staff input gets a clear 4xx page, never a plain 500."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import AuditEntry, Contact
from tests.integration.helpers import make_contact
from tests.integration.test_admin_support import browser, make_staff, post, sign_in


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    # A crash must show as the 500 a user would get, not as an exception inside the test.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return browser(app)


@pytest.fixture
def admin(client: FlaskClient) -> None:
    make_staff("admin@example.com", "admin")
    sign_in(client, "admin@example.com")


def test_an_empty_template_preview_says_what_is_missing(client: FlaskClient, admin: None) -> None:
    response = post(client, "/admin/templates/preview", {})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    # The inner content of the #preview live region (htmx swaps it inside the kept container).
    assert 'role="alert"' in page and "Chưa thể xem trước" in page
    assert "Mục đích" in page and "Nội dung (MJML)" in page


def test_saving_a_contact_with_another_contacts_email_is_a_form_error(
    client: FlaskClient, admin: None
) -> None:
    mine = make_contact("mine@example.com", name="Mine")
    make_contact("taken@example.com", name="Other person")
    response = post(
        client, f"/admin/contacts/{mine}/edit", {"email": "taken@example.com", "name": "Mine 2"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "đã thuộc về một liên hệ khác" in page
    assert 'value="taken@example.com"' in page  # the form is shown again with what was typed
    assert "Other person" not in page
    db.session.expire_all()
    contact = db.session.get(Contact, mine)
    assert (contact.email, contact.name) == ("mine@example.com", "Mine")
    edits = db.select(db.func.count()).select_from(AuditEntry)
    assert db.session.scalar(edits.where(AuditEntry.action == "contacts.edit")) == 0
