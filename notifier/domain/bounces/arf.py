"""RFC 5965 abuse feedback reports (Yahoo, Outlook.com/JMRP and other feedback loops)."""

from __future__ import annotations

from email.message import Message

from notifier.domain.bounces import mime
from notifier.domain.bounces.dsn import ORIGINAL_PARTS
from notifier.domain.bounces.model import Feedback, Kind, Report, malformed
from notifier.domain.bounces.status import ADDRESS

COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus"})
KNOWN_TYPES = COMPLAINT_TYPES | {"other", "not-spam", "auth-failure"}


def parse_arf(message: Message) -> Report:
    parts = list(mime.walk(message))
    report = next((p for p in parts if mime.content_type(p) == "message/feedback-report"), None)
    if report is None:
        return malformed("feedback report without a message/feedback-report part")
    blocks = mime.blocks(report)
    if not blocks:
        return malformed("empty feedback-report part")
    fields = blocks[0]
    feedback_type = mime.header(fields, "Feedback-Type").lower()
    if feedback_type not in KNOWN_TYPES:
        return malformed(f"unknown Feedback-Type {feedback_type[:40]!r}")
    original = next((p for p in parts if mime.content_type(p) in ORIGINAL_PARTS), None)
    headers = mime.original_headers(original) if original is not None else None
    message_id = mime.message_id(mime.header(headers, "Message-ID")) if headers else None
    return_path = mime.header(headers, "Return-Path") if headers else ""
    # Original-Mail-From is the envelope sender the feedback provider saw: our VERP address.
    return_path = (return_path or mime.header(fields, "Original-Mail-From")).strip("<> ")
    rcpt = ADDRESS.search(mime.header(fields, "Original-Rcpt-To"))
    kind = Kind.COMPLAINT if feedback_type in COMPLAINT_TYPES else Kind.UNKNOWN
    item = Feedback(
        kind=kind,
        recipient=rcpt.group(0).strip("<>").lower() if rcpt else None,
        category=feedback_type,
        reporter=mime.header(fields, "User-Agent")[:100],
    )
    return Report(kind, (item,), message_id, return_path or None)
