"""Header field encoding: RFC 2047 encoded-words, folding, mailboxes and injection guards."""

from __future__ import annotations

import re
from binascii import b2a_base64
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache

# 42 raw bytes -> 56 base64 chars -> a 68-char encoded-word, so "Subject: " + word stays within 78.
_WORD_BYTES = 42
_PREFERRED_LINE = 78
_MAX_LINE = 998

# CR, LF and NUL are the injection vectors; other C0 controls and Unicode line separators go too,
# because parsers (Python's str.splitlines among them) may treat them as line breaks.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_VERBATIM_VALUE = re.compile(r"[ -~\t]*")


class MailHeaderError(ValueError):
    """A value can't be placed in a header without changing its meaning."""


class InvalidAddressError(MailHeaderError):
    """An email address is malformed or carries characters that could inject headers or commands."""


class InvalidHeaderError(MailHeaderError):
    """A header name or a value that must pass verbatim (URL, id, content type) is unsafe."""


def clean_text(value: str) -> str:
    """Replace line breaks and other controls with spaces: free text is neutralised, not refused."""
    return _CONTROLS.sub(" ", value)


def check_address(address: str) -> str:
    """Return `address` if it is a plain ASCII addr-spec (IDN domains already in punycode)."""
    local, _, domain = address.rpartition("@")
    if (
        len(address) > 254
        or len(local) > 64
        or len(domain) > 253
        or not _ADDRESS.fullmatch(address)
    ):
        raise InvalidAddressError(f"invalid email address: {address!r}")
    return address


def check_verbatim(value: str, what: str) -> str:
    """Return `value` if it is printable ASCII that fits on one header line."""
    if len(value) > _MAX_LINE - 80 or not _VERBATIM_VALUE.fullmatch(value):
        raise InvalidHeaderError(f"unsafe {what}: {value!r}")
    return value


def check_field_name(name: str) -> str:
    """Return `name` if it is a valid RFC 5322 field name."""
    if len(name) > 76 or not _FIELD_NAME.fullmatch(name):
        raise InvalidHeaderError(f"invalid header name: {name!r}")
    return name


def encoded_words(value: str) -> list[str]:
    """Split `value` into base64 encoded-words, never cutting a UTF-8 sequence in two."""
    data = value.encode("utf-8", "replace")
    words = []
    start, size = 0, len(data)
    while start < size:
        end = min(start + _WORD_BYTES, size)
        # 0b10xxxxxx is a continuation byte: back up to the start of its character.
        while end < size and data[end] & 0xC0 == 0x80:
            end -= 1
        words.append("=?utf-8?b?" + b2a_base64(data[start:end], newline=False).decode() + "?=")
        start = end
    return words


def _fold_ascii(prefix: str, value: str) -> str | None:
    """Fold at spaces to keep lines near 78; None when some word would still exceed 998."""
    lines = []
    line = prefix
    for index, word in enumerate(value.split(" ")):
        if index == 0:
            line += word
        elif word and len(line) + 1 + len(word) > _PREFERRED_LINE and line.strip():
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    if max(map(len, lines)) > _MAX_LINE:
        return None
    return "\r\n".join(lines)


def unstructured(name: str, value: str) -> bytes:
    """Return a complete `Name: value` line for free text (a subject), neutralised and folded."""
    value = clean_text(value)
    prefix = name + ": "
    # "=?" in plain text would be decoded as an encoded-word by readers, so such text is encoded.
    if value.isascii() and "=?" not in value:
        if len(prefix) + len(value) <= _PREFERRED_LINE:
            return (prefix + value + "\r\n").encode("ascii")
        folded = _fold_ascii(prefix, value)
        if folded is not None:
            return (folded + "\r\n").encode("ascii")
    return (prefix + "\r\n ".join(encoded_words(value)) + "\r\n").encode("ascii")


def _phrase(name: str) -> str:
    """Return a display name as a quoted-string, or as encoded-words when it is not short ASCII."""
    name = clean_text(name).strip()
    if name.isascii() and "=?" not in name and len(name) <= 60:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "\r\n ".join(encoded_words(name))


def mailbox(name: str | None, address: str) -> str:
    """Return `"Name" <address>` or the bare address; InvalidAddressError for a bad address."""
    check_address(address)
    if not name or not name.strip():
        return address
    return _phrase(name) + " <" + address + ">"


def list_id(identifier: str, description: str | None) -> str:
    """Return an RFC 2919 List-Id value such as `Khuyến mãi <promotions.example.vn>`."""
    check_verbatim(identifier, "List-Id")
    if " " in identifier or "<" in identifier or ">" in identifier:
        raise InvalidHeaderError(f"unsafe List-Id: {identifier!r}")
    if not description:
        return "<" + identifier + ">"
    return _phrase(description) + " <" + identifier + ">"


@lru_cache(maxsize=4)
def date_line(second: int) -> bytes:
    """Return the Date line for a Unix second; cached because a batch sends many per second."""
    stamp = format_datetime(datetime.fromtimestamp(second, UTC))
    return b"Date: " + stamp.encode("ascii") + b"\r\n"
