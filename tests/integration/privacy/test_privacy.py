"""Privacy requests: export, restriction, complaint, erasure; deadlines and acknowledgements."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.contacts.contacts import save_contact
from notifier.delivery.eligibility import decision_for
from notifier.domain.consent_rules import Reason
from notifier.domain.errors import Conflict, ValidationFailed
from notifier.infra.extensions import db
from notifier.models import ConsentEvent, Contact, PrivacyRequest, Suppression
from notifier.models.types import utcnow
from notifier.privacy import requests as privacy
from tests.conftest import PINNED_NOW
from tests.integration.helpers import committed, make_contact, web_grant
from tests.integration.public_helpers import (
    body_text,
    csrf_of,
    deliver,
    preferences_token,
    system_mails,
    verified_link,
)
from tests.smtp_server import SmtpTestServer

WHO = privacy.Requester("198.51.100.4", "UA test", "vi")


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _deadlines_at_a_fixed_instant(pinned_clock: object) -> None:
    """Every request here gets its deadlines from the same Thursday, whatever today is."""


def test_export_is_ready_at_once_and_acknowledged(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    contact_id = make_contact("an@example.com", grants=("promotions",), phone="0901234567")
    link = verified_link(client, contact_id, "export")
    html = client.get(link).get_data(as_text=True)
    response = client.post(link, data={"csrf_token": csrf_of(html)})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["contact"]["email"] == "an@example.com"
    assert data["contact"]["phone"] == "0901234567"
    [grant] = data["consent_events"]
    assert grant["purpose"] == "promotions" and grant["notice_text"].startswith("Tôi đồng ý")
    assert data["controller"]["company"] == "CÔNG TY CỔ PHẦN VIỄN THÔNG DCNET"
    [request] = db.session.scalars(sa.select(PrivacyRequest)).all()
    assert (request.kind, request.status) == ("export", "completed")
    received = request.received_at
    assert (received - PINNED_NOW).total_seconds() < 60
    # Thursday in Vietnam: 2 working days end on Monday, after the 72 hours, so completion wins.
    assert request.complete_by == received + timedelta(hours=72)
    assert request.acknowledge_by == request.complete_by
    request_id = request.id
    verify, ack = deliver(app, smtp)
    assert verify["To"] == ack["To"] == "an@example.com"
    assert "Tải xuống dữ liệu của tôi" in body_text(ack)
    acknowledged = db.session.get(PrivacyRequest, request_id)
    assert acknowledged.acknowledged_at is not None and acknowledged.status == "completed"


def test_export_without_csrf_is_refused(client: FlaskClient) -> None:
    contact_id = make_contact("bo@example.com")
    response = client.post(verified_link(client, contact_id, "export"))
    assert response.status_code == 400
    assert db.session.scalars(sa.select(PrivacyRequest)).all() == []


def test_restriction_applies_at_once(client: FlaskClient) -> None:
    contact_id = make_contact("cu@example.com", grants=("promotions",))
    url = f"/p/{preferences_token(contact_id)}/privacy"
    html = client.get(url).get_data(as_text=True)
    done = client.post(f"{url}/restriction", data={"csrf_token": csrf_of(html)})
    assert done.status_code == 200 and "Đã nhận yêu cầu" in done.get_data(as_text=True)
    assert decision_for(contact_id, "promotions", utcnow()).reason is Reason.RESTRICTED
    assert decision_for(contact_id, "renewal", utcnow()).reason is Reason.RESTRICTED
    assert [m.kind for m in system_mails()] == ["privacy_ack"]


def test_complaint_is_validated(client: FlaskClient) -> None:
    contact_id = make_contact("da@example.com")
    url = f"/p/{preferences_token(contact_id)}/privacy"
    token = csrf_of(client.get(url).get_data(as_text=True))
    empty = client.post(f"{url}/complaint", data={"csrf_token": token, "text": "   "})
    assert empty.status_code == 422 and "Hãy nhập nội dung khiếu nại" in empty.get_data(
        as_text=True
    )
    long = client.post(f"{url}/complaint", data={"csrf_token": token, "text": "x" * 4001})
    assert long.status_code == 422
    assert db.session.scalars(sa.select(PrivacyRequest)).all() == []
    text = "Tôi nhận email <script>alert(1)</script> dù đã hủy."
    ok = client.post(f"{url}/complaint", data={"csrf_token": token, "text": text})
    assert ok.status_code == 200
    [request] = db.session.scalars(sa.select(PrivacyRequest)).all()
    assert request.kind == "complaint" and request.details["text"] == text
    assert client.post(f"{url}/nonsense", data={"csrf_token": token}).status_code == 404


def test_erase_then_reimport_is_still_never_mailed(client: FlaskClient) -> None:
    contact_id = make_contact(
        "ed@example.com",
        grants=("promotions", "events"),
        name="Ed",
        phone="0901234567",
        national_id="012345678901",
    )
    link = verified_link(client, contact_id, "erasure")
    token = csrf_of(client.get(link).get_data(as_text=True))
    assert client.post(link, data={"csrf_token": token}).status_code == 200
    [request] = db.session.scalars(sa.select(PrivacyRequest)).all()
    assert request.kind == "erasure" and request.status == "received"

    with committed():
        privacy.erase(request.id, staff_id=None)
    with pytest.raises(Conflict), committed():
        privacy.erase(request.id, staff_id=None)
    db.session.expire_all()
    contact = db.session.get(Contact, contact_id)
    assert contact.email is None and contact.name == "" and contact.phone == ""
    assert contact.national_id == "" and contact.erased_at is not None
    events = consent.history(contact_id)
    assert len(events) == 2 + 4  # kept: 2 grants, then an erasure withdrawal per purpose
    assert all(e.ip is None and e.user_agent is None for e in events)
    assert {s.scope for s in db.session.scalars(sa.select(Suppression))} == {"all"}
    assert all(m.to_address is None for m in system_mails())
    # The preference link of an erased person leads nowhere.
    assert client.get(f"/p/{preferences_token(contact_id)}").status_code == 404

    again = save_contact({"email": "ED@example.com", "name": "Ed again"})
    web_grant(again.id, "promotions")
    decision = decision_for(again.id, "promotions", utcnow())
    assert not decision.allowed and decision.reason is Reason.SUPPRESSED


def test_the_ledger_still_refuses_any_other_rewrite(app: Flask) -> None:
    contact_id = make_contact("fi@example.com", grants=("promotions",))
    event_id = consent.history(contact_id)[0].id
    with pytest.raises(sa.exc.DatabaseError):
        db.session.execute(
            sa.update(ConsentEvent).where(ConsentEvent.id == event_id).values(ip="10.0.0.1")
        )
        db.session.flush()
    db.session.rollback()


def test_service_rejects_bad_complaints_directly(app: Flask) -> None:
    contact_id = make_contact("gi@example.com")
    with pytest.raises(ValidationFailed):
        privacy.complain(contact_id, "a\x00b", WHO)
