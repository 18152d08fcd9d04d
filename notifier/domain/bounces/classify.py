"""One raw message in, one Report out: a bounce, a complaint, an auto-reply or nothing we know."""

from __future__ import annotations

from email.message import Message

from notifier.domain.bounces import mime
from notifier.domain.bounces.arf import parse_arf
from notifier.domain.bounces.autoreply import is_auto_reply
from notifier.domain.bounces.dsn import looks_like_text_bounce, parse_dsn, parse_text_bounce
from notifier.domain.bounces.model import Kind, Report, malformed

MAX_REPORT_BYTES = 1_048_576
UNREADABLE = (
    ValueError, TypeError, LookupError, AttributeError, UnicodeError, RecursionError,
)  # fmt: skip


def classify(raw: bytes) -> Report:
    """Never raises: anything unreadable comes back with `problem` set (and is rejected)."""
    if not isinstance(raw, bytes):
        return malformed("not bytes")
    if len(raw) > MAX_REPORT_BYTES:
        return malformed(f"larger than {MAX_REPORT_BYTES} bytes")
    try:
        return _classify(mime.parse(raw))
    except UNREADABLE as exc:
        # The stdlib parser is lenient, not hostile-proof (deep nesting, odd encodings).
        return malformed(f"unreadable message ({type(exc).__name__})")


def _classify(message: Message) -> Report:
    if not message.keys():
        return malformed("no header section")
    ctype = mime.content_type(message)
    report_type = str(message.get_param("report-type", "", header="content-type")).lower()
    if ctype == "multipart/report" and report_type == "feedback-report":
        return parse_arf(message)
    if ctype == "multipart/report" and report_type in ("delivery-status", ""):
        if not message.is_multipart():
            return malformed("multipart/report without parts")
        return parse_dsn(message)
    if ctype == "multipart/report":
        return Report(Kind.UNKNOWN)  # read receipts (RFC 8098) and other reports: nothing to do
    if looks_like_text_bounce(message):
        return parse_text_bounce(message)
    if is_auto_reply(message):
        return Report(Kind.AUTO_REPLY)
    return Report(Kind.UNKNOWN)
