"""Defensive reading of raw mail: the lenient compat32 parser, decoded headers, bounded sizes."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses

MAX_PARTS = 50  # a report has three; more is not a report worth walking
MAX_TEXT = 64_000  # how much of a human-readable part the text heuristics read


def parse(raw: bytes) -> Message:
    """compat32 never raises on bad input; it records defects instead."""
    return message_from_bytes(raw, policy=compat32)


def header(message: Message, name: str) -> str:
    """The decoded value, or '' for a missing or undecodable header."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (LookupError, ValueError, UnicodeError, TypeError):
        text = str(value)
    return " ".join(text.split())


def address(message: Message, name: str) -> str | None:
    """The first address of an address header, lower-cased."""
    try:
        found = [addr for _, addr in getaddresses([header(message, name)]) if "@" in addr]
    except (ValueError, IndexError, TypeError):
        return None
    return found[0].strip().lower() if found else None


def message_id(value: str) -> str | None:
    """`<id@host>` -> `id@host`; None unless it looks like a Message-ID."""
    bare = value.strip().strip("<>").strip()
    if not bare or len(bare) > 255 or "@" not in bare or any(c.isspace() for c in bare):
        return None
    return bare


def walk(message: Message) -> Iterator[Message]:
    """At most MAX_PARTS parts, depth first, so a crafted message cannot make us loop long."""
    for count, part in enumerate(message.walk()):
        if count >= MAX_PARTS:
            return
        yield part


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except (ValueError, TypeError, AttributeError):
        return "text/plain"


def blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = _text(part) if isinstance(payload, str) else ""
    parser = HeaderParser(policy=compat32)
    return [parser.parsestr(chunk.strip() + "\n") for chunk in _chunks(text)]


def _chunks(text: str) -> list[str]:
    normalised = text.replace("\r\n", "\n")
    return [chunk for chunk in normalised.split("\n\n") if chunk.strip()]


def original_headers(part: Message) -> Message | None:
    """The returned message (message/rfc822) or its headers alone (text/rfc822-headers)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = next((item for item in payload if isinstance(item, Message)), None)
        return inner
    if isinstance(payload, str):
        return HeaderParser(policy=compat32).parsestr(_text(part))
    return None


def text(message: Message) -> str:
    """Every text/plain part, decoded, up to MAX_TEXT characters; '' when there is none."""
    pieces: list[str] = []
    for part in walk(message):
        if content_type(part) == "text/plain" and not part.is_multipart():
            pieces.append(_text(part))
        if sum(map(len, pieces)) >= MAX_TEXT:
            break
    return "\n".join(pieces)[:MAX_TEXT]


def _text(part: Message) -> str:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        data = None
    if not isinstance(data, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")
