"""RFC 3464 delivery status notifications, and the plain-text bounces some servers still send."""

from __future__ import annotations

import re
from email.message import Message

from notifier.domain.bounces import mime
from notifier.domain.bounces.model import Feedback, Kind, Report, malformed
from notifier.domain.bounces.status import ADDRESS, classify_status, enhanced_code, redact

REPORT_PARTS = ("message/delivery-status", "message/global-delivery-status")
ORIGINAL_PARTS = ("message/rfc822", "text/rfc822-headers", "message/global-headers")
SKIP_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (status notification|failure|has failed)|"
    r"mail delivery (failed|subsystem)|failure notice|could not be delivered|"
    r"delivery problem|non-?delivery|returned to sender",
    re.I,
)
BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.I)
PERMANENT_WORDS = re.compile(
    r"permanent (error|failure)|failed permanently|could not be deliver", re.I
)
TEMPORARY_WORDS = re.compile(r"delayed|will (keep|continue) trying|temporary (error|failure)", re.I)


def parse_dsn(message: Message) -> Report:
    """A multipart/report with report-type=delivery-status."""
    parts = list(mime.walk(message))
    status = next((p for p in parts if mime.content_type(p) in REPORT_PARTS), None)
    if status is None:
        return malformed("delivery report without a delivery-status part")
    fields = mime.blocks(status)
    if len(fields) < 2:
        return malformed("delivery-status part without a per-recipient block")
    reporter = _value(fields[0], "Reporting-MTA")
    feedback = tuple(item for item in (_recipient(block, reporter) for block in fields[1:]) if item)
    if not feedback:
        return malformed("delivery-status part names no recipient")
    original = _original(parts)
    return Report(_overall(feedback), feedback, *original)


def _recipient(block: Message, reporter: str) -> Feedback | None:
    recipient = _address(block, "Final-Recipient") or _address(block, "Original-Recipient")
    action = mime.header(block, "Action").lower()
    if recipient is None or not action:
        return None
    diagnostic = _value(block, "Diagnostic-Code")
    status = enhanced_code(mime.header(block, "Status"))
    if action in SKIP_ACTIONS:
        kind, category = Kind.UNKNOWN, action
    elif action == "delayed":
        kind, category = Kind.DELAYED, "delayed"
    else:
        kind, category, status = classify_status(status, diagnostic)
    return Feedback(kind, recipient, status, category, redact(diagnostic), reporter)


def _overall(feedback: tuple[Feedback, ...]) -> Kind:
    kinds = [item.kind for item in feedback]
    for kind in (Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE, Kind.DELAYED):
        if kind in kinds:
            return kind
    return Kind.UNKNOWN


def _value(block: Message, name: str) -> str:
    """`smtp; 550 5.1.1 ...` -> `550 5.1.1 ...`: the type prefix (RFC 3464 2.1.2) is dropped."""
    kind, sep, rest = mime.header(block, name).partition(";")
    return rest.strip() if sep and " " not in kind.strip() else kind.strip()


def _address(block: Message, name: str) -> str | None:
    match = ADDRESS.search(_value(block, name))
    return match.group(0).strip("<>").lower() if match else None


def _original(parts: list[Message]) -> tuple[str | None, str | None]:
    """(Message-ID, Return-Path) of the returned message, when it came back with the report."""
    for part in parts:
        if mime.content_type(part) in ORIGINAL_PARTS:
            headers = mime.original_headers(part)
            if headers is not None:
                return (
                    mime.message_id(mime.header(headers, "Message-ID")),
                    mime.header(headers, "Return-Path").strip("<> ") or None,
                )
    return None, None


def looks_like_text_bounce(message: Message) -> bool:
    """Exim's default, qmail and Yahoo-style bounces are plain text from the mailer daemon."""
    sender = mime.address(message, "From") or ""
    return bool(BOUNCE_SENDER.match(sender)) or bool(
        BOUNCE_SUBJECT.search(mime.header(message, "Subject"))
    )


def parse_text_bounce(message: Message) -> Report:
    """Best effort: the failed address and the SMTP reply quoted in the human-readable text."""
    body = mime.text(message)
    if not body.strip():
        return malformed("bounce without a readable body")
    ours = {mime.address(message, name) for name in ("From", "To")}
    found = [m for m in ADDRESS.finditer(body) if m.group(0).strip("<>.").lower() not in ours]
    if not found:
        return malformed("bounce that names no recipient")
    recipient = found[0].group(0).strip("<>.:").lower()
    # The server's words follow the address; the part before is boilerplate.
    tail = body[found[0].end() : found[0].end() + 2000].lstrip(">:.\n ")
    if TEMPORARY_WORDS.search(body) and not PERMANENT_WORDS.search(body):
        feedback = Feedback(Kind.DELAYED, recipient, None, "delayed", redact(tail), "text")
    else:
        kind, category, status = classify_status(None, tail)
        if kind is Kind.UNKNOWN:
            return malformed("bounce whose reason cannot be read")
        feedback = Feedback(kind, recipient, status, category, redact(tail), "text")
    return Report(feedback.kind, (feedback,), *_original(list(mime.walk(message))))
