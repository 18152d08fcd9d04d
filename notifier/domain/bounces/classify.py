"""One raw message in, one Report out: a bounce, a complaint, an auto-reply or nothing we know."""

from __future__ import annotations

from email.message import Message

from notifier.domain.bounces import mime
from notifier.domain.bounces.arf import parse_arf
from notifier.domain.bounces.autoreply import is_auto_reply
from notifier.domain.bounces.combine import combine
from notifier.domain.bounces.detectors import failures
from notifier.domain.bounces.dsn import looks_like_text_bounce, parse_dsn, parse_text_bounce
from notifier.domain.bounces.model import Kind, Report, malformed

MAX_REPORT_BYTES = 1_048_576
UNREADABLE = (
    ValueError, TypeError, LookupError, AttributeError, UnicodeError, RecursionError,
)  # fmt: skip


def classify(raw: bytes, *, detectors: bool = True) -> Report:
    """Never raises: anything unreadable comes back with `problem` set (and is rejected).

    `detectors=False` is our own parsers alone, without flufl.bounce: bench/bounce_compare.py
    measures what each one finds.
    """
    if not isinstance(raw, bytes):
        return malformed("not bytes")
    if len(raw) > MAX_REPORT_BYTES:
        return malformed(f"larger than {MAX_REPORT_BYTES} bytes")
    try:
        message = mime.parse(raw)
        report, settled = _classify(message)
        if settled or not detectors:
            return report
        ours = frozenset(filter(None, (mime.address(message, h) for h in ("From", "To"))))
        return combine(message, report, failures(message, len(raw), ours))
    except UNREADABLE as exc:
        # The stdlib parser is lenient, not hostile-proof (deep nesting, odd encodings).
        return malformed(f"unreadable message ({type(exc).__name__})")


def _classify(message: Message) -> tuple[Report, bool]:
    """Our reading, and whether it is settled: complaints and auto-replies are no bounce."""
    if not message.keys():
        return malformed("no header section"), True
    ctype = mime.content_type(message)
    report_type = str(message.get_param("report-type", "", header="content-type")).lower()
    if ctype == "multipart/report" and report_type == "feedback-report":
        return parse_arf(message), True
    if ctype == "multipart/report" and report_type in ("delivery-status", ""):
        if not message.is_multipart():
            return malformed("multipart/report without parts"), False
        return parse_dsn(message), False
    if ctype == "multipart/report":
        # Read receipts (RFC 8098): nothing to do, unless one is a Sieve rejection (RFC 5429).
        return Report(Kind.UNKNOWN), False
    if looks_like_text_bounce(message):
        return parse_text_bounce(message), False
    if is_auto_reply(message):
        return Report(Kind.AUTO_REPLY), True
    return Report(Kind.UNKNOWN), False
