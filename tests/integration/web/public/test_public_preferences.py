"""The preference center: toggles, double opt-in, verified self-service edits, history, receipts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.contacts import preferences
from notifier.domain.consent_rules import ConsentStatus
from notifier.domain.errors import ValidationFailed
from notifier.domain.profile import text_hash
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import ConsentSource, Contact, PrivacyRequest
from notifier.privacy.requests import Requester
from tests.integration.helpers import committed, make_contact
from tests.integration.public_helpers import (
    body_text,
    csrf_of,
    deliver,
    preferences_token,
    system_mails,
    verified_link,
)
from tests.smtp_server import SmtpTestServer

UA = "Mozilla/5.0 (iPhone) test"


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def _open(client: FlaskClient, contact_id: int) -> tuple[str, str]:
    url = f"/p/{preferences_token(contact_id)}"
    page = client.get(url, headers={"User-Agent": UA})
    assert page.status_code == 200
    return url, page.get_data(as_text=True)


def _link(message_text: str) -> str:
    match = re.search(r"https://notifier\.test(/\S+)", message_text)
    assert match, message_text
    return match.group(1)


def test_page_shows_every_purpose_with_notice_state_and_toggle(client: FlaskClient) -> None:
    contact_id = make_contact("an@example.com", grants=("promotions",))
    _, html = _open(client, contact_id)
    for purpose in profile().purposes:
        assert purpose.name.vi in html
        assert purpose.notice.vi in html
        assert f'name="purpose" value="{purpose.key}"' in html
    assert re.search(r'value="promotions"[^>]*checked', html)
    assert not re.search(r'value="events"[^>]*checked', html)
    assert re.search(r'value="renewal"[^>]*checked', html)  # contract mail flows until refused


def test_turning_off_withdraws_and_on_needs_double_opt_in(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    contact_id = make_contact("bo@example.com", grants=("promotions",))
    url, html = _open(client, contact_id)
    token = csrf_of(html)
    # promotions off, events on (advertising: waits for the email), renewal kept on.
    saved = client.post(
        f"{url}/choices",
        data={"csrf_token": token, "purpose": ["events", "renewal", "sales_contact"]},
        headers={"User-Agent": UA},
    )
    assert saved.status_code == 200
    states = consent.states(contact_id)
    assert states["promotions"] is ConsentStatus.WITHDRAWN
    assert states["events"] is ConsentStatus.PENDING
    assert states["renewal"] is ConsentStatus.NONE
    events = consent.history(contact_id)
    request_event = events[-1]
    assert request_event.action == "request"
    assert request_event.source == ConsentSource.PREFERENCE_CENTER
    assert request_event.ip == "127.0.0.1" and request_event.user_agent == UA
    assert request_event.notice_version == "1"
    assert request_event.notice_sha256 == text_hash(profile().purpose("events").notice.vi)
    assert events[-2].action == "withdraw" and events[-2].user_agent == UA
    request_id = request_event.id

    messages = deliver(app, smtp)
    subjects = sorted(str(m["Subject"]) for m in messages)
    assert subjects == ["Xác nhận từ chối nhận email", "Xác nhận đăng ký nhận email"]
    opt_in = next(m for m in messages if "đăng ký" in str(m["Subject"]))
    link = _link(body_text(opt_in))
    assert client.get(link).status_code == 200
    assert consent.states(contact_id)["events"] is ConsentStatus.PENDING  # GET confirms nothing
    page = client.get(link).get_data(as_text=True)
    done = client.post(link, data={"csrf_token": csrf_of(page)}, headers={"User-Agent": UA})
    assert done.status_code == 200 and "Important" not in done.get_data(as_text=True)
    assert consent.states(contact_id)["events"] is ConsentStatus.GRANTED
    grant = consent.history(contact_id)[-1]
    assert grant.action == "grant" and grant.evidence["request_event_id"] == request_id


def test_refusing_service_mail_and_turning_it_back_on(client: FlaskClient) -> None:
    contact_id = make_contact("cu@example.com")
    url, html = _open(client, contact_id)
    client.post(f"{url}/choices", data={"csrf_token": csrf_of(html), "purpose": ["sales_contact"]})
    assert consent.states(contact_id)["renewal"] is ConsentStatus.WITHDRAWN
    client.post(f"{url}/choices", data={"csrf_token": csrf_of(html), "purpose": ["renewal"]})
    states = consent.states(contact_id)
    assert states["renewal"] is ConsentStatus.GRANTED  # service: no double opt-in needed
    assert states["sales_contact"] is ConsentStatus.WITHDRAWN
    assert len(system_mails("refusal")) == 2


def test_choices_need_csrf_and_known_purposes(client: FlaskClient) -> None:
    contact_id = make_contact("da@example.com", grants=("promotions",))
    url, html = _open(client, contact_id)
    assert client.post(f"{url}/choices", data={"purpose": []}).status_code == 400
    bad = client.post(f"{url}/choices", data={"csrf_token": csrf_of(html), "purpose": ["x"]})
    assert bad.status_code == 422
    assert consent.states(contact_id)["promotions"] is ConsentStatus.GRANTED
    assert system_mails() == []


def test_self_service_edit_validation_and_verified_name(client: FlaskClient) -> None:
    contact_id = make_contact("ed@example.com", name="Nguyễn Văn Ed", phone="0901234567")
    link = verified_link(client, contact_id, "details")
    token = csrf_of(client.get(link, headers={"User-Agent": UA}).get_data(as_text=True))
    bad = client.post(
        link,
        data={"csrf_token": token, "phone": "call me\r\nBcc: x", "national_id": "12"},
        headers={"User-Agent": UA},
    )
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Số điện thoại gồm" in text and "số CCCD có 12 chữ số" in text
    contact = db.session.get(Contact, contact_id)
    db.session.refresh(contact)
    assert contact.phone == "0901234567"

    with pytest.raises(ValidationFailed), committed():
        preferences.update_profile(contact_id, {"tags": "vip"}, Requester("127.0.0.1", UA))

    # A refused form left the one-time link unused: the corrected one goes through.
    ok = client.post(
        link,
        data={
            "csrf_token": token,
            "name": "Nguyễn Văn Edward",
            "phone": "+84 28 3512 3456",
            "address": "1 Lê Lợi, Quận 1",
            "email": "ed@example.com",
            "tags": "vip",
        },
    )
    assert ok.status_code == 200
    db.session.refresh(contact)
    assert contact.phone == "+84 28 3512 3456" and contact.address == "1 Lê Lợi, Quận 1"
    assert contact.tag_names == []  # not a self-editable field: never read from the form
    assert contact.name == "Nguyễn Văn Ed"  # DCNET: staff verify a name change first
    [correction] = db.session.scalars(db.select(PrivacyRequest)).all()
    assert correction.kind == "correction"
    assert correction.details["changes"]["name"] == {
        "from": "Nguyễn Văn Ed",
        "to": "Nguyễn Văn Edward",
    }
    assert correction.details["requester"]["ip"] == "127.0.0.1"
    assert [m.kind for m in system_mails()] == ["verify", "privacy_ack"]


def test_email_change_is_confirmed_at_the_new_address(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    contact_id = make_contact("old@example.com")
    make_contact("taken@example.com")
    link = verified_link(client, contact_id, "details")
    page = client.get(link).get_data(as_text=True)
    client.post(link, data={"csrf_token": csrf_of(page), "email": "New@Example.com"})
    contact = db.session.get(Contact, contact_id)
    db.session.refresh(contact)
    assert contact.email == "old@example.com"
    verify, message = deliver(app, smtp)
    assert verify["To"] == "old@example.com"
    assert message["To"] == "new@example.com"
    assert "/p/" not in body_text(message)  # a stranger's inbox gets no link to this contact
    link = _link(body_text(message))
    page = client.get(link).get_data(as_text=True)
    assert client.post(link, data={"csrf_token": csrf_of(page)}).status_code == 200
    assert db.session.get(Contact, contact_id).email == "new@example.com"
    forged = link.partition("?")[0][:-3] + "abc"
    assert client.post(forged, data={"csrf_token": csrf_of(page)}).status_code == 404


def test_history_and_receipt_reproduce_the_exact_notice(client: FlaskClient) -> None:
    contact_id = make_contact("fi@example.com", grants=("promotions",))
    consent.withdraw(contact_id, ["promotions"], consent.Evidence(source=ConsentSource.PHONE))
    token = preferences_token(contact_id)
    history = client.get(f"/p/{token}/history").get_data(as_text=True)
    assert "Đồng ý: Khuyến mãi" in history and "Từ chối / rút lại: Khuyến mãi" in history
    grant = consent.history(contact_id)[0]
    receipt = client.get(f"/p/{token}/receipt/{grant.id}?download=1")
    assert receipt.status_code == 200
    assert receipt.headers["Content-Disposition"].startswith("attachment;")
    html = receipt.get_data(as_text=True)
    assert profile().purpose("promotions").notice.vi in html
    assert grant.notice_sha256 in html
    withdrawal = consent.history(contact_id)[1]
    assert client.get(f"/p/{token}/receipt/{withdrawal.id}").status_code == 404
    other = make_contact("gu@example.com", grants=("events",))
    foreign = consent.history(other)[0]
    assert client.get(f"/p/{token}/receipt/{foreign.id}").status_code == 404


def test_preference_pages_in_english(client: FlaskClient) -> None:
    contact_id = make_contact("hu@example.com", grants=("promotions",), locale="en")
    _, html = _open(client, contact_id)
    assert "Email preferences" in html and profile().purpose("promotions").notice.en in html
    switched = client.get(f"/p/{preferences_token(contact_id)}?lang=vi").get_data(as_text=True)
    assert "Tùy chọn nhận email" in switched
