"""Issue #13.1: a forwarded email's links must not reveal or change the person's data."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from urllib.parse import urlsplit

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.infra.extensions import db
from notifier.models import Contact, PrivacyRequest
from tests.integration.helpers import drain, make_contact
from tests.integration.public_helpers import (
    csrf_of,
    preferences_token,
    unsubscribe_token,
)
from tests.integration.test_api_support import smtp as smtp  # fixture
from tests.smtp_server import SmtpTestServer

PHONE, ADDRESS, NATIONAL_ID = "0901234567", "12 Nguyễn Huệ, Quận 1", "012345678901"
SECRETS = (PHONE, ADDRESS, NATIONAL_ID)


@pytest.fixture
def person(app: Flask) -> int:
    return make_contact(
        "an@example.com",
        grants=("promotions",),
        phone=PHONE,
        address=ADDRESS,
        national_id=NATIONAL_ID,
    )


def _mail(app: Flask, smtp: SmtpTestServer) -> list[tuple[list[str], str]]:
    """Everything that reached the SMTP server: recipients and plain text."""
    drain(app)
    out = []
    for received in smtp.messages:
        message = message_from_bytes(received.data, policy=default)
        body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        out.append((received.rcpt_tos, body))
    return out


def _link(text: str, path: str) -> str:
    found = re.search(rf"https://notifier\.test({path}\S+?)(?:\?|\s)", text)
    assert found, text
    return found.group(1)


def _export_link(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer, person: int
) -> tuple[str, dict[str, str]]:
    """Ask on the preference page, as anyone holding its link can; read the mail that arrived."""
    url = f"/p/{preferences_token(person)}"
    form = {"csrf_token": csrf_of(client.get(f"{url}/privacy").get_data(as_text=True))}
    assert client.post(f"{url}/verify/export", data=form).status_code == 200
    [(rcpt, text)] = _mail(app, smtp)
    assert rcpt == ["an@example.com"]
    return _link(text, "/v/export/"), form


def _no_personal_data(html: str) -> None:
    for secret in SECRETS:
        assert secret not in html


def test_preference_pages_show_personal_fields_masked(client: FlaskClient, person: int) -> None:
    token = preferences_token(person)
    for path in ("", "/privacy", "/history"):
        page = client.get(f"/p/{token}{path}")
        assert page.status_code == 200
        _no_personal_data(page.get_data(as_text=True))
    assert "09•••••567" in client.get(f"/p/{token}").get_data(as_text=True)


def test_a_forwarded_preference_link_cannot_export(client: FlaskClient, person: int) -> None:
    url = f"/p/{preferences_token(person)}/privacy"
    form = {"csrf_token": csrf_of(client.get(url).get_data(as_text=True))}
    for attempt in (f"{url}/export", f"{url}/erasure"):
        response = client.post(attempt, data=form)
        assert response.status_code in (404, 405)
        _no_personal_data(response.get_data(as_text=True))
    assert db.session.scalar(select(func.count()).select_from(PrivacyRequest)) == 0


def test_a_forwarded_preference_link_cannot_change_the_address(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer, person: int
) -> None:
    url = f"/p/{preferences_token(person)}"
    form = {"csrf_token": csrf_of(client.get(url).get_data(as_text=True))}
    changed = client.post(f"{url}/profile", data={**form, "email": "attacker@evil.example.com"})
    assert changed.status_code in (404, 405)
    # Asking for the one-time link sends it to the address of record, never to the asker.
    asked = client.post(f"{url}/verify/details", data=form)
    assert asked.status_code == 200
    html = asked.get_data(as_text=True)
    assert "/v/" not in html and "a•••@example.com" in html
    db.session.expire_all()
    assert db.session.get(Contact, person).email == "an@example.com"
    assert [rcpt for rcpt, _ in _mail(app, smtp)] == [["an@example.com"]]


def test_the_export_link_goes_to_the_address_of_record_and_works_once(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer, person: int
) -> None:
    link, form = _export_link(app, client, smtp, person)
    first = client.post(link, data=form)
    assert first.status_code == 200 and first.mimetype == "application/json"
    assert json.loads(first.get_data(as_text=True))["contact"]["phone"] == PHONE
    again = client.post(link, data=form)
    assert again.status_code == 410
    _no_personal_data(again.get_data(as_text=True))
    assert "Liên kết đã được dùng" in again.get_data(as_text=True)
    assert client.get(link).status_code == 410
    # The link of one action does nothing for another.
    other = link.replace("/v/export/", "/v/erasure/")
    assert client.post(other, data=form).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(PrivacyRequest)) == 1


def test_the_export_link_expires_after_30_minutes(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer, person: int
) -> None:
    link, form = _export_link(app, client, smtp, person)
    with time_machine.travel(timedelta(minutes=31), tick=False):
        late = client.post(link, data=form)
    assert late.status_code == 410
    _no_personal_data(late.get_data(as_text=True))
    assert "hết hạn" in late.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(PrivacyRequest)) == 0


def test_a_forged_or_altered_link_is_refused(
    client: FlaskClient, person: int, app: Flask, smtp: SmtpTestServer
) -> None:
    link, form = _export_link(app, client, smtp, person)
    flipped = link[:-2] + ("AA" if link[-2:] != "AA" else "BB")
    for attempt in (flipped, f"/v/export/{preferences_token(person)}", "/v/export/x"):
        response = client.post(attempt, data=form)
        assert response.status_code == 404
        _no_personal_data(response.get_data(as_text=True))


def test_the_unsubscribe_page_hands_out_no_preference_link(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer, person: int
) -> None:
    token = unsubscribe_token(person, None)
    secret = preferences_token(person)
    page = client.get(f"/u/{token}").get_data(as_text=True)
    done = client.post(f"/u/{token}", data={"confirm": "yes"}).get_data(as_text=True)
    asked = client.post(f"/u/{token}/preferences-link")
    assert asked.status_code == 200
    for html in (page, done, asked.get_data(as_text=True)):
        assert secret not in html and "/p/" not in html
    mails = _mail(app, smtp)
    links = [(rcpt, _link(text, "/p/")) for rcpt, text in mails if "Liên kết tới trang" in text]
    assert links == [(["an@example.com"], f"/p/{secret}")]
    assert urlsplit(links[0][1]).path.endswith(secret)
