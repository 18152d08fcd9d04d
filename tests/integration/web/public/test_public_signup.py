"""Sign-up: unticked boxes, honeypot, rate limit, double opt-in recording both steps."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.contacts.contacts import find_by_email
from notifier.domain.consent_rules import ConsentStatus
from notifier.infra.extensions import db
from notifier.models import ConsentSource, Contact
from tests.integration.helpers import make_contact
from tests.integration.public_helpers import body_text, csrf_of, deliver, system_mails
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def _form(client: FlaskClient) -> tuple[str, str]:
    page = client.get("/subscribe")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html, csrf_of(html)


def test_form_has_one_unticked_box_per_advertising_purpose(client: FlaskClient) -> None:
    html, _ = _form(client)
    boxes = re.findall(r'<input type="checkbox"[^>]*name="purpose"[^>]*>', html)
    assert [re.search(r'value="(\w+)"', b).group(1) for b in boxes] == ["promotions", "events"]
    assert not any("checked" in box for box in boxes)
    assert 'name="website"' in html and 'tabindex="-1"' in html  # honeypot
    assert 'for="email"' in html and 'for="name"' in html


def test_double_opt_in_records_both_steps(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    _, token = _form(client)
    sent = client.post(
        "/subscribe",
        data={
            "csrf_token": token,
            "email": "An@Example.com",
            "name": "An",
            "purpose": ["promotions", "events"],
        },
        headers={"User-Agent": "Step one"},
    )
    assert sent.status_code == 200 and "kiểm tra hộp thư" in sent.get_data(as_text=True)
    contact = find_by_email("an@example.com")
    assert contact is not None and contact.name == "An"
    contact_id = contact.id
    states = consent.states(contact_id)
    assert states["promotions"] is ConsentStatus.PENDING
    assert states["events"] is ConsentStatus.PENDING
    [message] = deliver(app, smtp)
    assert message["Subject"] == "Xác nhận đăng ký nhận email"
    link = re.search(r"https://notifier\.test(/confirm/\S+)", body_text(message)).group(1)
    assert [m.data.get("link") for m in system_mails()] == [None]  # the secret left with the mail

    page = client.get(link)
    assert consent.states(contact_id)["promotions"] is ConsentStatus.PENDING
    done = client.post(
        link,
        data={"csrf_token": csrf_of(page.get_data(as_text=True))},
        headers={"User-Agent": "Step two"},
    )
    assert done.status_code == 200 and "Đăng ký thành công" in done.get_data(as_text=True)
    states = consent.states(contact_id)
    assert (
        states["promotions"] is ConsentStatus.GRANTED and states["events"] is ConsentStatus.GRANTED
    )
    grants = [e for e in consent.history(contact_id) if e.action == "grant"]
    requests = {e.purpose_key: e for e in consent.history(contact_id) if e.action == "request"}
    for grant in grants:
        step_one = requests[grant.purpose_key]
        assert grant.source == ConsentSource.SIGNUP
        assert grant.evidence["request_event_id"] == step_one.id
        assert grant.evidence["request_ip"] == step_one.ip == "127.0.0.1"
        assert (step_one.user_agent, grant.user_agent) == ("Step one", "Step two")
        assert grant.notice_sha256 == step_one.notice_sha256
    again = client.post(link, data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert again.status_code == 200  # a second click answers kindly and records nothing new
    assert len(consent.history(contact_id)) == 4


def _sign_up(client: FlaskClient, address: str, purposes: list[str], lang: str = "vi") -> None:
    _, token = _form(client)
    data = {"csrf_token": token, "email": address, "name": "Lan", "purpose": purposes}
    answer = client.post(f"/subscribe?lang={lang}", data=data)
    assert answer.status_code == 200, answer.get_data(as_text=True)


def _confirm(client: FlaskClient, message: EmailMessage) -> str:
    found = re.search(r"https://notifier\.test(/confirm/\S+)", body_text(message))
    assert found, body_text(message)
    page = client.get(found.group(1))
    done = client.post(found.group(1), data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert done.status_code == 200
    return found.group(1)


def test_a_confirmation_brings_one_welcome_naming_what_comes_and_how_often(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    _sign_up(client, "lan@example.com", ["promotions", "events"])
    [opt_in] = deliver(app, smtp)
    link = _confirm(client, opt_in)
    [_, welcome] = deliver(app, smtp)
    assert welcome["Subject"] == "Chào mừng bạn: đăng ký nhận email đã được xác nhận"
    assert welcome["To"] == "lan@example.com"
    text = body_text(welcome)
    assert "- Khuyến mãi và ưu đãi đặc biệt (Tối đa 2 email mỗi tuần)" in text
    assert "- Sự kiện quan trọng của DCNET (Tối đa 1 email mỗi tuần)" in text
    assert re.search(r"https://notifier\.test/p/\S+", text)  # their preferences page
    # The link used again grants nothing, so it welcomes nobody a second time.
    page = client.get(link)
    client.post(link, data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert len(deliver(app, smtp)) == 2
    assert len(system_mails("welcome")) == 1


def test_the_welcome_names_only_what_was_newly_confirmed_in_the_persons_language(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    make_contact("tom@example.com", ("promotions",), locale="en")
    _sign_up(client, "tom@example.com", ["promotions", "events"], lang="en")
    [opt_in] = deliver(app, smtp)
    _confirm(client, opt_in)
    [_, welcome] = deliver(app, smtp)
    assert welcome["Subject"] == "Welcome: your subscription is confirmed"
    text = body_text(welcome)
    assert "- Important DCNET events (At most 1 email a week)" in text
    assert "promotions" not in text.lower() and "Khuyến mãi" not in text


def test_bad_input_changes_nothing(client: FlaskClient) -> None:
    _, token = _form(client)
    cases = [
        {"email": "not an address", "purpose": ["promotions"]},
        {"email": "ok@example.com"},
        {"email": "ok@example.com", "purpose": ["renewal"]},  # service mail is not signed up for
        {"email": "ok@example.com", "purpose": ["promotions"], "name": "a\r\nBcc: x"},
    ]
    for data in cases:
        response = client.post("/subscribe", data={"csrf_token": token, **data})
        assert response.status_code == 422, data
    assert client.post("/subscribe", data={"email": "ok@example.com"}).status_code == 400
    assert db.session.scalars(sa.select(Contact)).all() == []
    assert system_mails() == []


def test_honeypot_pretends_and_does_nothing(client: FlaskClient) -> None:
    _, token = _form(client)
    response = client.post(
        "/subscribe",
        data={
            "csrf_token": token,
            "email": "bot@example.com",
            "purpose": ["promotions"],
            "website": "http://spam.example",
        },
    )
    assert response.status_code == 200
    assert find_by_email("bot@example.com") is None and system_mails() == []


def test_rate_limit_per_address_and_per_client(client: FlaskClient) -> None:
    _, token = _form(client)
    statuses = [
        client.post(
            "/subscribe",
            data={"csrf_token": token, "email": "cu@example.com", "purpose": ["events"]},
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    statuses = [
        client.post(
            "/subscribe",
            data={"csrf_token": token, "email": f"p{i}@example.com", "purpose": ["events"]},
        ).status_code
        for i in range(3)
    ]
    assert statuses == [200, 429, 429]  # five attempts per client address in ten minutes
    assert "Quá nhiều yêu cầu" in client.post(
        "/subscribe", data={"csrf_token": token, "email": "q@example.com", "purpose": ["events"]}
    ).get_data(as_text=True)


def test_existing_customer_name_is_not_overwritten(client: FlaskClient) -> None:
    contact_id = make_contact("ed@example.com", name="Nguyễn Văn Ed")
    _, token = _form(client)
    client.post(
        "/subscribe",
        data={
            "csrf_token": token,
            "email": "ed@example.com",
            "name": "Someone Else",
            "purpose": ["promotions"],
        },
    )
    assert db.session.get(Contact, contact_id).name == "Nguyễn Văn Ed"
    assert consent.states(contact_id)["promotions"] is ConsentStatus.PENDING


def test_unknown_or_forged_confirmation_link(client: FlaskClient) -> None:
    page = client.get("/confirm/forged-token")
    assert page.status_code == 200  # only a button; nothing checked or changed yet
    posted = client.post(
        "/confirm/forged-token", data={"csrf_token": csrf_of(page.get_data(as_text=True))}
    )
    assert posted.status_code == 404 and "Liên kết không hợp lệ" in posted.get_data(as_text=True)


def test_english_form(client: FlaskClient) -> None:
    html = client.get("/subscribe?lang=en").get_data(as_text=True)
    assert "Get news from DCNET" in html and "Promotions and special offers" in html


def test_each_error_is_tied_to_its_field_and_summarised(client: FlaskClient) -> None:
    """Issue #14: sign-up errors were not tied to their fields. Each invalid field says so and
    names its message; a summary that takes focus on load links to each field."""
    _, token = _form(client)
    answer = client.post("/subscribe", data={"csrf_token": token, "email": "not an address"})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    email = re.search(r'<input id="email"[^>]*>', page)
    assert email and 'aria-invalid="true"' in email[0]
    assert 'aria-describedby="email-error"' in email[0]
    error = re.search(r'<p class="field-error" id="email-error">([^<]+)</p>', page)
    assert error and error[1].strip()
    for box in re.findall(r'<input type="checkbox" id="purpose-[^>]*>', page):
        assert 'aria-invalid="true"' in box and "purposes-error" in box, box
    name = re.search(r'<input id="name"[^>]*>', page)
    assert name and "aria-invalid" not in name[0] and "aria-describedby" not in name[0]
    summary = re.search(r'<div [^>]*id="error-summary"[^>]*>(.*?)</div>', page, re.S)
    assert summary and 'tabindex="-1"' in summary[0] and "autofocus" in summary[0]
    assert 'href="#email"' in summary[1] and 'href="#purpose-promotions"' in summary[1]
    # A good form has no marks and no summary.
    assert "aria-invalid" not in client.get("/subscribe").get_data(as_text=True)
