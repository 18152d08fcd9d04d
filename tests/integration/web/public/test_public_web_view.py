"""The web view of a campaign message ("Xem trên trình duyệt"), through its real link from the
mail that reached the SMTP server: the page is that contact's message, a GET records nothing,
hostile tokens and erased contacts get a page, and the send path pays no query for the link."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from notifier.domain.rsvp import rsvp_token
from notifier.domain.web_view import read_web_view_token, web_view_token
from notifier.infra.context import token_secret
from notifier.infra.extensions import db
from notifier.privacy.requests import Requester, erase_now
from tests.integration.helpers import committed, drain, make_contact, start_campaign
from tests.integration.public_helpers import foreign_tokens, tampered
from tests.integration.rsvp_steps import parsed
from tests.smtp_server import SmtpTestServer

WEB_VIEW_LINK = re.compile(r'href="https://notifier\.test(/m/[A-Za-z0-9_-]+)"')


def html_of(message: object) -> str:
    body = message.get_body(("html",))  # type: ignore[attr-defined]
    assert body is not None
    return str(body.get_content())


def received(smtp: SmtpTestServer) -> dict[str, str]:
    """Each recipient's HTML part, by address."""
    return {m.rcpt_tos[0]: html_of(p) for m, p in zip(smtp.messages, parsed(smtp), strict=True)}


def web_view_path(html: str) -> str:
    (path,) = set(WEB_VIEW_LINK.findall(html))
    return path


@pytest.fixture
def sent(app: Flask, smtp: SmtpTestServer) -> dict[str, object]:
    """A promotion sent to An (vi) and Bea (en); Cy never consented, so is not in its ledger."""
    an = make_contact("an@example.com", grants=("promotions",), name="Nguyễn Văn An")
    bea = make_contact("bea@example.com", grants=("promotions",), name="Bea", locale="en")
    cy = make_contact("cy@example.com", name="Cy")
    campaign = start_campaign("promotion", "promotions")
    drain(app)
    mails = received(smtp)
    assert set(mails) == {"an@example.com", "bea@example.com"}
    return {"campaign": campaign, "an": an, "bea": bea, "cy": cy, "mails": mails}


def test_the_link_in_each_mail_opens_that_contacts_own_message(
    client: FlaskClient, sent: dict
) -> None:
    for address, key in (("an@example.com", "an"), ("bea@example.com", "bea")):
        mail = sent["mails"][address]
        path = web_view_path(mail)
        token = path.rpartition("/")[2]
        assert read_web_view_token(token_secret(), token) == (sent["campaign"], sent[key])
        page = client.get(path)
        assert page.status_code == 200
        # The same composer renders it: byte for byte the HTML part the contact received,
        # with their name, language and their own unsubscribe and preferences links.
        assert page.get_data(as_text=True) == mail.replace("\r\n", "\n")  # mail lines end CRLF
    an_page = client.get(web_view_path(sent["mails"]["an@example.com"])).get_data(as_text=True)
    assert "Xin chào Nguyễn Văn An" in an_page and "Xem trên trình duyệt" in an_page
    bea_page = client.get(web_view_path(sent["mails"]["bea@example.com"])).get_data(as_text=True)
    assert "Hello Bea" in bea_page and "View in your browser" in bea_page
    assert "Nguyễn Văn An" not in bea_page


def test_the_page_runs_no_script_is_not_indexed_and_is_cached_privately(
    client: FlaskClient, sent: dict
) -> None:
    page = client.get(web_view_path(sent["mails"]["an@example.com"]))
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'none'" in policy
    assert page.headers["X-Robots-Tag"].startswith("noindex")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"].startswith("private")
    assert client.post(web_view_path(sent["mails"]["an@example.com"])).status_code == 405


def test_a_get_records_nothing(client: FlaskClient, sent: dict) -> None:
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for _ in range(3):  # a mail scanner, a preview pane, the person
            assert client.get(web_view_path(sent["mails"]["an@example.com"])).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert statements and set(statements) <= {"SELECT", "BEGIN", "COMMIT", "ROLLBACK"}


def test_hostile_tokens_get_a_page_not_a_message(
    app: Flask, client: FlaskClient, sent: dict, smtp: SmtpTestServer
) -> None:
    secret, campaign, an, cy = token_secret(), sent["campaign"], sent["an"], sent["cy"]
    own = web_view_path(sent["mails"]["an@example.com"]).rpartition("/")[2]
    smtp.messages.clear()
    other = start_campaign("promotion", "promotions")  # not sent yet: nobody in its ledger
    hostile = [
        *foreign_tokens(own, campaign, an),
        rsvp_token(secret, campaign, an),  # an RSVP token of the same campaign and contact
        web_view_token(b"another secret" * 3, campaign, an),  # signed with another secret
        web_view_token(secret, 999_999, an),  # no such campaign (or a deleted one)
        web_view_token(secret, campaign, 999_999),  # no such contact
        web_view_token(secret, campaign, cy),  # a contact the campaign's ledger never held
        web_view_token(secret, other, an),  # a campaign this contact never received
        "preview",  # the stand-in link of previews and test sends
        "PREVIEW",  # the layouts' preview
    ]
    for token in hostile:
        shown = client.get(f"/m/{token}")
        assert shown.status_code == 404, token
        html = shown.get_data(as_text=True)
        assert "Liên kết không hợp lệ" in html and "Xin chào" not in html, token
    english = client.get(f"/m/{tampered(own)}?lang=en")
    assert english.status_code == 404 and "This link does not work" in english.get_data(True)
    # A web view token opens no other page either.
    assert client.get(f"/e/{own}").status_code == 404
    assert client.get(f"/p/{own}").status_code == 404


def test_an_erased_contact_gets_410_in_vietnamese_or_english(
    client: FlaskClient, sent: dict
) -> None:
    path = web_view_path(sent["mails"]["an@example.com"])
    with committed():
        erase_now(sent["an"], Requester(ip=None, user_agent=None, locale="vi"), "test")
    shown = client.get(path)
    assert shown.status_code == 410
    html = shown.get_data(as_text=True)
    assert "Thư này không còn xem được" in html and "Nguyễn Văn An" not in html
    english = client.get(path + "?lang=en")
    assert english.status_code == 410
    assert "This message is no longer available" in english.get_data(as_text=True)
    # The other recipient's message is still there.
    assert client.get(web_view_path(sent["mails"]["bea@example.com"])).status_code == 200


def _statements_while_sending(app: Flask, recipients: int, start: int) -> int:
    for n in range(start, start + recipients):
        make_contact(f"c{n}@example.com", grants=("promotions",), name=f"Khách {n}")
    start_campaign("promotion", "promotions")
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        drain(app)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return len(statements)


def test_the_link_costs_the_send_path_no_query_per_message(
    app: Flask, smtp: SmtpTestServer
) -> None:
    """Signed from the ids the batch holds: a campaign to 8 people runs as many statements as
    one to 2 (everything is per batch), and every message carries its own link."""
    few = _statements_while_sending(app, 2, 0)
    smtp.messages.clear()
    many = _statements_while_sending(app, 8, 100)
    mails = received(smtp)
    assert len(mails) == 10  # the 2 got the second campaign too
    assert len({web_view_path(html) for html in mails.values()}) == 10
    assert many == few


def test_an_empty_page_title_becomes_the_subject_escaped_and_a_layouts_own_stays() -> None:
    from notifier.campaigns.web_view import titled
    from notifier.delivery.rendering.compiler import RenderedMessage

    subject = 'Ưu đãi <b>"mới"</b> & hơn'
    empty = RenderedMessage(subject, "<head><title></title></head><body>x</body>", "x")
    assert titled(empty).html == (
        "<head><title>Ưu đãi &lt;b&gt;&quot;mới&quot;&lt;/b&gt; &amp; hơn</title></head>"
        "<body>x</body>"
    )
    own = RenderedMessage(subject, "<head><title>Tin tháng 5</title></head>", "x")
    assert titled(own) == own
