"""Steps shared by the public-page tests: tokens, the confirmation mails, a real SMTP sink."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from notifier.domain.tokens import make_token
from notifier.infra.context import token_secret
from notifier.models import SystemMail
from tests.conftest import configure
from tests.integration.helpers import drain
from tests.smtp_server import SmtpTestServer

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def unsubscribe_token(contact_id: int, purpose: str | None) -> str:
    return make_token(token_secret(), contact_id, purpose, "u")


def preferences_token(contact_id: int) -> str:
    return make_token(token_secret(), contact_id, None, "p")


def tampered(token: str) -> str:
    """The token with one character changed."""
    flipped = "A" if token[5] != "A" else "B"
    return token[:5] + flipped + token[6:]


def foreign_tokens(own: str, campaign: int, contact: int) -> list[str]:
    """What must not open a campaign link's page (RSVP, web view): a made-up or changed token,
    and the same contact's unsubscribe and preferences tokens."""
    secret = token_secret()
    return [
        "forged-" + own[7:],  # made up
        tampered(own),  # one character changed
        make_token(secret, contact, None, "u"),  # the contact's unsubscribe token
        make_token(secret, contact, str(campaign), "u"),  # an unsubscribe token naming the campaign
        make_token(secret, contact, None, "p"),  # the preferences token
    ]


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def verified_link(client: FlaskClient, contact_id: int, action: str) -> str:
    """Ask for a one-time link on the preference page; return its path from the queued mail."""
    url = f"/p/{preferences_token(contact_id)}"
    page = client.get(url).get_data(as_text=True)
    sent = client.post(f"{url}/verify/{action}", data={"csrf_token": csrf_of(page)})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    return urlsplit(system_mails("verify")[-1].data["link"]).path


def system_mails(kind: str | None = None) -> list[SystemMail]:
    from notifier.infra.extensions import db

    query = db.select(SystemMail).order_by(SystemMail.id)
    if kind:
        query = query.where(SystemMail.kind == kind)
    return list(db.session.scalars(query))


def deliver(app: Flask, server: SmtpTestServer) -> list[EmailMessage]:
    """Run a real worker over the queues into the SMTP test server; return what arrived."""
    configure(app, SMTP_URL=server.url)
    drain(app)
    parsed = []
    for received in server.messages:
        message = message_from_bytes(received.data, policy=default)
        assert isinstance(message, EmailMessage)
        parsed.append(message)
    return parsed


def body_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]
