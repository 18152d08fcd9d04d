"""The RSVP page of an event campaign, through its real link from the invitation that reached
the SMTP server: GET records nothing, POST registers once with one confirmation mail, hostile
tokens and late or erased cases get a page, never a change."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from notifier.domain.rsvp import read_rsvp_token, rsvp_token
from notifier.infra.context import token_secret
from notifier.infra.extensions import db
from notifier.privacy.requests import Requester, erase_now
from tests.integration.helpers import committed, drain, make_contact
from tests.integration.public_helpers import csrf_of, foreign_tokens
from tests.integration.rsvp_steps import event_campaign, mails, parsed, rsvp_paths, rsvps, text_of
from tests.smtp_server import SmtpTestServer

STARTS = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)


@pytest.fixture
def invited(app: Flask, smtp: SmtpTestServer) -> dict[str, object]:
    """An event campaign sent to two people (vi and en); their RSVP paths from the mail."""
    an = make_contact("an@example.com", grants=("events",), name="Nguyễn Văn An")
    bea = make_contact("bea@example.com", grants=("events",), name="Bea", locale="en")
    campaign = event_campaign(STARTS)
    paths = rsvp_paths(app, smtp)
    smtp.messages.clear()
    return {"campaign": campaign, "an": an, "bea": bea, "paths": paths}


def post(client: FlaskClient, path: str, action: str = "register") -> tuple[int, str]:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    csrf = csrf_of(page.get_data(as_text=True))
    answer = client.post(path, data={"csrf_token": csrf, "action": action})
    return answer.status_code, answer.get_data(as_text=True)


def test_each_invitation_links_its_recipient_to_their_own_page(
    client: FlaskClient, invited: dict
) -> None:
    paths = invited["paths"]
    assert set(paths) == {"an@example.com", "bea@example.com"}
    for address, key in (("an@example.com", "an"), ("bea@example.com", "bea")):
        contact, token = invited[key], paths[address].rpartition("/")[2]
        assert read_rsvp_token(token_secret(), token) == (invited["campaign"], contact)
    page = client.get(paths["an@example.com"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Đăng ký tham dự sự kiện" in html  # Vietnamese first
    assert "Ngày hội khách hàng" in html and "an@example.com" in html
    english = client.get(paths["an@example.com"] + "?lang=en").get_data(as_text=True)
    assert "Confirm my registration" in english


def test_a_get_records_nothing(client: FlaskClient, invited: dict) -> None:
    for _ in range(3):  # a mail scanner, a preview pane, the person
        assert client.get(invited["paths"]["an@example.com"]).status_code == 200
    assert rsvps() == [] and mails("rsvp_confirmed") == []


def test_registering_twice_records_once_and_confirms_once(
    app: Flask, client: FlaskClient, invited: dict, smtp: SmtpTestServer
) -> None:
    path = invited["paths"]["bea@example.com"]
    status, html = post(client, path)
    assert status == 200 and "You are registered" in html  # Bea reads English
    status, html = post(client, path)
    assert status == 200 and "already registered" in html
    assert rsvps() == [(invited["campaign"], invited["bea"], False, False)]
    drain(app)
    (confirmation,) = parsed(smtp)
    assert smtp.messages[0].rcpt_tos == ["bea@example.com"]
    assert confirmation["Subject"] == "You are registered for the event"
    text = text_of(confirmation)
    assert "Ngày hội khách hàng" in text and "GMT+7" in text
    (ics,) = [p for p in confirmation.iter_attachments() if p.get_filename() == "invite.ics"]
    assert "BEGIN:VEVENT" in ics.get_content()  # type: ignore[attr-defined]


def test_cancelling_and_registering_again_confirms_again(
    client: FlaskClient, invited: dict
) -> None:
    path = invited["paths"]["an@example.com"]
    post(client, path)
    status, html = post(client, path, "cancel")
    assert status == 200 and "đã được hủy" in html
    assert rsvps() == [(invited["campaign"], invited["an"], True, False)]
    status, html = post(client, path, "cancel")
    assert "chưa đăng ký" in html
    post(client, path)
    assert rsvps() == [(invited["campaign"], invited["an"], False, False)]
    assert len(mails("rsvp_confirmed")) == 2


def test_two_posts_at_once_make_one_rsvp_and_one_mail(
    app: Flask, invited: dict, smtp: SmtpTestServer
) -> None:
    """Two browsers (a double click, two tabs): each request in its own thread, with its own
    session and database connection, both past the page at the same moment."""
    path = invited["paths"]["an@example.com"]
    start = threading.Barrier(2)

    def register(_: int) -> int | str:
        # In its own thread, outside the test's app context: a fresh `g` and CSRF token each.
        client = app.test_client()
        csrf = csrf_of(client.get(path).get_data(as_text=True))
        start.wait()
        answer = client.post(path, data={"csrf_token": csrf, "action": "register"})
        return answer.status_code if answer.status_code == 200 else answer.get_data(as_text=True)

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(register, range(2))) == [200, 200]
    db.session.remove()
    assert rsvps() == [(invited["campaign"], invited["an"], False, False)]
    assert len(mails("rsvp_confirmed")) == 1
    drain(app)
    assert [m.rcpt_tos for m in smtp.messages] == [["an@example.com"]]


def test_hostile_tokens_get_a_page_and_change_nothing(client: FlaskClient, invited: dict) -> None:
    secret, campaign, an = token_secret(), invited["campaign"], invited["an"]
    own = invited["paths"]["an@example.com"].rpartition("/")[2]
    hostile = [
        *foreign_tokens(own, campaign, an),
        rsvp_token(b"another secret" * 3, campaign, an),  # signed with another secret
        rsvp_token(secret, 999_999, an),  # no such campaign
        rsvp_token(secret, campaign, 999_999),  # no such contact
        "preview",  # the stand-in link of previews and test sends
    ]
    page = client.get(invited["paths"]["an@example.com"]).get_data(as_text=True)
    csrf = csrf_of(page)
    for token in hostile:
        shown = client.get(f"/e/{token}")
        assert shown.status_code == 404, token
        assert "Liên kết không hợp lệ" in shown.get_data(as_text=True)
        posted = client.post(f"/e/{token}", data={"csrf_token": csrf, "action": "register"})
        assert posted.status_code == 404, token
    no_csrf = client.post(f"/e/{own}", data={"action": "register"})
    assert no_csrf.status_code == 400
    unknown_action = client.post(f"/e/{own}", data={"csrf_token": csrf, "action": "maybe"})
    assert unknown_action.status_code == 400
    assert rsvps() == [] and mails("rsvp_confirmed") == []


def test_an_erased_contact_and_a_started_event_get_a_page(
    client: FlaskClient, invited: dict
) -> None:
    an_path, bea_path = invited["paths"]["an@example.com"], invited["paths"]["bea@example.com"]
    with committed():
        erase_now(invited["an"], Requester(ip=None, user_agent=None, locale="vi"), "test")
    assert client.get(an_path).status_code == 404
    with time_machine.travel(STARTS, tick=False):
        shown = client.get(bea_path)
        assert shown.status_code == 410 and "Đã hết hạn đăng ký" in shown.get_data(as_text=True)
        csrf = csrf_of(client.get("/subscribe").get_data(as_text=True))  # a fresh form token
        posted = client.post(bea_path, data={"csrf_token": csrf, "action": "register"})
        assert posted.status_code == 410
    assert rsvps() == [] and mails("rsvp_confirmed") == []


def test_a_campaign_that_is_not_an_event_has_no_rsvp_page(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    from tests.integration.helpers import start_campaign

    contact = make_contact("an@example.com", grants=("promotions",))
    campaign = start_campaign("promotion", "promotions")
    drain(app)
    token = rsvp_token(token_secret(), campaign, contact)
    assert client.get(f"/e/{token}").status_code == 404
    assert "/e/" not in text_of(parsed(smtp)[0])  # its template names no RSVP link
