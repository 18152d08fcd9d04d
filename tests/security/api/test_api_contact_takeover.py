"""Issue #13.2: a notices-only API key must not move a contact's mail to an address it chooses."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.contacts import contacts
from notifier.infra.extensions import db
from notifier.models import AuditEntry, Contact, Notice, SystemMail
from tests.integration.helpers import drain, make_contact
from tests.integration.test_api_support import bearer, issue_key, notice_body, renewal_type
from tests.integration.test_api_support import smtp as smtp  # fixture
from tests.smtp_server import SmtpTestServer

VICTIM, ATTACKER = "khach@example.com", "attacker@evil.example.com"


@pytest.fixture
def victim(app: Flask) -> int:
    renewal_type()
    return make_contact(VICTIM, external_ref="KH-2023-01002", name="Nguyễn Văn An")


def _notice(client: FlaskClient, key: str, body: dict, idem: str = "k-1") -> tuple[int, dict]:
    headers = {**bearer(key), "Idempotency-Key": idem}
    response = client.post("/api/v1/notices", json=body, headers=headers)
    return response.status_code, response.get_json()


def _received(app: Flask, smtp: SmtpTestServer) -> list[list[str]]:
    drain(app)
    return [m.rcpt_tos for m in smtp.messages]


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", ATTACKER), ("name", "Kẻ Gian")],
)
def test_a_notices_key_cannot_change_who_an_existing_contact_is(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer, victim: int, field: str, value: str
) -> None:
    body = notice_body(ref="KH-2023-01002", email=VICTIM)
    body["contact"][field] = value
    code, problem = _notice(client, issue_key("notices"), body)

    assert code == 403, problem
    assert problem["status"] == 403 and field in problem["detail"]
    assert {"field": f"contact.{field}"}.items() <= problem["errors"][0].items()
    db.session.expire_all()
    contact = db.session.get(Contact, victim)
    assert (contact.email, contact.name) == (VICTIM, "Nguyễn Văn An")
    assert db.session.scalar(select(func.count()).select_from(Notice)) == 0
    assert _received(app, smtp) == []  # nothing reached the attacker, nor anyone else


def test_a_notices_key_still_creates_contacts_and_repeats_their_details(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer, victim: int
) -> None:
    key = issue_key("notices")
    same = notice_body(ref="KH-2023-01002", email=VICTIM.upper())  # normalised: no change
    created = notice_body(ref="KH-NEW-1", email="moi@example.com")
    assert _notice(client, key, same, "k-1")[0] == 202
    assert _notice(client, key, created, "k-2")[0] == 202
    assert sorted(_received(app, smtp)) == [["khach@example.com"], ["moi@example.com"]]


def test_a_contacts_key_changes_the_address_audited_and_tells_the_old_one(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer, victim: int
) -> None:
    key = issue_key("contacts")
    response = client.patch(
        "/api/v1/contacts/KH-2023-01002", json={"email": "an.moi@example.com"}, headers=bearer(key)
    )
    assert response.status_code == 200
    contact = contacts.find_by_external_ref("KH-2023-01002")
    assert contact is not None and contact.email == "an.moi@example.com"
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "contact.identity_change")
    )
    assert entry is not None and entry.details == {"fields": ["email"]}
    assert entry.actor.startswith("api:")
    assert _received(app, smtp) == [[VICTIM]]
    message = message_from_bytes(smtp.messages[0].data, policy=default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "a•••@example.com" in text and "an.moi@example.com" not in text
    assert "/p/" not in text and "List-Unsubscribe" not in message  # the old owner gets no link
    assert [m.kind for m in db.session.scalars(select(SystemMail))] == ["addr_changed"]


def test_a_key_with_both_scopes_may_change_the_address_through_a_notice(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer, victim: int
) -> None:
    body = notice_body(ref="KH-2023-01002", email="an.moi@example.com")
    assert _notice(client, issue_key("notices", "contacts"), body)[0] == 202
    assert sorted(_received(app, smtp)) == [["an.moi@example.com"], [VICTIM]]
