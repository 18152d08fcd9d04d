"""Read a stored or composed message the way a mail client shows it: headers, subject, parts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from sqlalchemy import func, select

from notifier.domain.errors import NotFound
from notifier.infra.extensions import db
from notifier.models import OutboxMessage
from notifier.operations.access import Access


@dataclass(frozen=True)
class MailView:
    subject: str
    headers: list[tuple[str, str]]
    html: str | None
    text: str | None
    attachments: list[str]


def read_message(raw: bytes) -> MailView:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    html = text = None
    attachments = []
    for part in message.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if part.get_content_disposition() == "attachment" or kind not in (
            "text/html",
            "text/plain",
        ):
            attachments.append(part.get_filename() or kind)
        elif kind == "text/html" and html is None:
            html = _content(part)
        elif kind == "text/plain" and text is None:
            text = _content(part)
    headers = [(name, _header(value)) for name, value in message.items()]
    return MailView(_header(message.get("Subject", "")), headers, html, text, attachments)


def _content(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # an unknown charset: show what the bytes say
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _header(value: object) -> str:
    # Folded header lines arrive with their CRLF; a page shows them on one line.
    return " ".join(str(value).split())


PAGE_SIZE = 50


@dataclass(frozen=True)
class OutboxPage:
    rows: list[OutboxMessage]
    total: int
    page: int
    pages: int


def outbox_page(access: Access, page: int = 1, search: str = "") -> OutboxPage:
    """What the built-in SMTP server received; recipients are personal data, so it is logged."""
    access.require("outbox.view")
    statement = select(OutboxMessage)
    if search.strip():
        needle = search.strip().lower()
        statement = statement.where(
            func.lower(OutboxMessage.subject).contains(needle, autoescape=True)
        )
    total = int(db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = list(
        db.session.scalars(
            statement.order_by(OutboxMessage.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    access.audit("outbox.list", "outbox_message", "", ids=[m.id for m in rows])
    db.session.flush()
    return OutboxPage(rows, total, page, pages)


def outbox_message(access: Access, message_id: int) -> tuple[OutboxMessage, MailView]:
    message = _audited(access, message_id, "outbox.view")
    return message, read_message(bytes(message.raw))


def outbox_raw(access: Access, message_id: int) -> bytes:
    """The message exactly as received, for a mail client or a header check; logged like a view."""
    return bytes(_audited(access, message_id, "outbox.download").raw)


def _audited(access: Access, message_id: int, action: str) -> OutboxMessage:
    access.require("outbox.view")
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"outbox message {message_id}")
    access.audit(action, "outbox_message", message.id)
    db.session.flush()
    return message
