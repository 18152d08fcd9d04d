"""Steps shared by the public-page tests: tokens, the confirmation mails, a real SMTP sink."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from flask import Flask

from notifier.domain.tokens import make_token
from notifier.infra.context import token_secret
from notifier.models import SystemMail
from tests.integration.helpers import drain
from tests.smtp_server import SmtpTestServer

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def unsubscribe_token(contact_id: int, purpose: str | None) -> str:
    return make_token(token_secret(), contact_id, purpose, "u")


def preferences_token(contact_id: int) -> str:
    return make_token(token_secret(), contact_id, None, "p")


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def system_mails(kind: str | None = None) -> list[SystemMail]:
    from notifier.infra.extensions import db

    query = db.select(SystemMail).order_by(SystemMail.id)
    if kind:
        query = query.where(SystemMail.kind == kind)
    return list(db.session.scalars(query))


def deliver(app: Flask, server: SmtpTestServer) -> list[EmailMessage]:
    """Run a real worker over the queues into the SMTP test server; return what arrived."""
    app.config["SMTP_URL"] = server.url
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
