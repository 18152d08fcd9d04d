"""Fast MIME assembly: constant bytes built once per campaign, per recipient only a few joins."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence

from notifier.mail import headers as h
from notifier.mail.body import Attachment, EncodedText, attachment_part, text_part

# Headers the builder writes itself; extra headers may not repeat them, so each appears once.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-id",
        "dkim-signature",
    }
)
_MESSAGE_KEY = re.compile(r"[A-Za-z0-9._-]{1,64}")
_URL = re.compile(r"[!-~]+")  # one printable-ASCII token: no space, no line break
# "=_" can't occur in quoted-printable or base64 output, so a boundary holding it can't collide
# with a body and one boundary serves every message of a campaign.
_BOUNDARY_PREFIX = "=_nf"
_LOOPBACK_HTTP = (
    "http://127.0.0.1:",
    "http://127.0.0.1/",
    "http://localhost:",
    "http://localhost/",
)


def _boundary() -> bytes:
    return (_BOUNDARY_PREFIX + os.urandom(12).hex()).encode("ascii")


def extra_header_lines(fields: Sequence[tuple[str, str]]) -> bytes:
    """Return `Name: value` lines for caller-supplied headers, refusing reserved or unsafe ones."""
    lines = []
    for name, value in fields:
        h.check_field_name(name)
        if name.lower() in RESERVED_HEADERS:
            raise h.InvalidHeaderError(f"header {name!r} is set by the message builder")
        lines.append(name + ": " + h.check_verbatim(value, name) + "\r\n")
    return "".join(lines).encode("ascii")


def _unsubscribe_lines(url: str, mailto: str) -> bytes:
    """Return the RFC 2369 / RFC 8058 lines; both URIs are required (Gmail/Yahoo bulk rules)."""
    # RFC 8058 wants https; plain http is accepted only on this machine, for `notifier dev`.
    secure = url.startswith("https://") or url.startswith(_LOOPBACK_HTTP)
    if not (secure and mailto.startswith("mailto:")):
        raise h.InvalidHeaderError("List-Unsubscribe needs an https:// URL and a mailto: URI")
    for uri in (url, mailto):
        if len(uri) > 900 or not _URL.fullmatch(uri) or "<" in uri or ">" in uri:
            raise h.InvalidHeaderError(f"unsafe List-Unsubscribe URI: {uri!r}")
    return (
        b"List-Unsubscribe: <"
        + url.encode("ascii")
        + b">,\r\n <"
        + mailto.encode("ascii")
        + b">\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    )


def new_message_id(message_key: str, domain: str) -> str:
    """The one Message-ID scheme of every mail notifier sends: `<key.random@domain>`, where the
    key names the row it was sent for (d123 a delivery, n45 a notice, s6 a system mail), so a
    bounce or a complaint that quotes it leads back to that row."""
    if not _MESSAGE_KEY.fullmatch(message_key):
        raise h.InvalidHeaderError(f"unsafe message key: {message_key!r}")
    return f"<{message_key}.{os.urandom(8).hex()}@{domain}>"


def message_id_of(message: bytes) -> str | None:
    """The Message-ID of a message notifier assembled, without the angle brackets."""
    start = message.find(b"\nMessage-ID: <")
    if start < 0:
        return None
    end = message.find(b">", start)
    return message[start + 14 : end].decode("ascii", "replace")


class MessageBuilder:
    """Assembles the messages of one campaign or notice type from one sender."""

    def __init__(
        self,
        *,
        from_address: str,
        from_name: str | None,
        list_id: str,
        list_name: str | None = None,
        message_id_domain: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        attachments: Sequence[Attachment] = (),
    ) -> None:
        self.from_address = h.check_address(from_address)
        domain = message_id_domain or from_address.rpartition("@")[2]
        self._id_domain = h.check_verbatim(domain, "Message-ID domain")
        self._from_line = ("From: " + h.mailbox(from_name, from_address) + "\r\n").encode("ascii")
        self._constant_lines = (
            ("List-Id: " + h.list_id(list_id, list_name) + "\r\n").encode("ascii")
            + extra_header_lines(headers)
            + b"MIME-Version: 1.0\r\n"
        )
        self._alternative = _boundary()
        self._mixed = _boundary()
        self._attachment_parts = [attachment_part(a) for a in attachments]

    def build(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | EncodedText,
        unsubscribe_url: str,
        unsubscribe_mailto: str,
        message_key: str,
        to_name: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        attachments: Sequence[Attachment] = (),
        now: float | None = None,
    ) -> bytes:
        """Return the complete message as CRLF bytes, ready for DKIM signing and SMTP DATA.

        message_key identifies the delivery (e.g. "d1234"); it becomes the start of the Message-ID.
        Raises InvalidAddressError or InvalidHeaderError; subject and names are neutralised instead.
        """
        head = b"".join(
            (
                self._from_line,
                ("To: " + h.mailbox(to_name, to) + "\r\n").encode("ascii"),
                h.unstructured("Subject", subject),
                h.date_line(int(time.time() if now is None else now)),
                self._message_id(message_key),
                _unsubscribe_lines(unsubscribe_url, unsubscribe_mailto),
                self._constant_lines,
                extra_header_lines(headers) if headers else b"",
            )
        )
        return head + self._body(text, html, attachments)

    def _message_id(self, message_key: str) -> bytes:
        return b"Message-ID: " + new_message_id(message_key, self._id_domain).encode() + b"\r\n"

    def _body(self, text: str, html: str | EncodedText, attachments: Sequence[Attachment]) -> bytes:
        """Return Content-Type, blank line and body: alternative, inside mixed when attached."""
        alt = self._alternative
        alternative = b"".join(
            (
                b"--" + alt + b"\r\n",
                text_part(b"plain", text),
                b"\r\n--" + alt + b"\r\n",
                text_part(b"html", html),
                b"\r\n--" + alt + b"--\r\n",
            )
        )
        alternative_type = b'Content-Type: multipart/alternative; boundary="' + alt + b'"\r\n'
        parts = self._attachment_parts + [attachment_part(a) for a in attachments]
        if not parts:
            return alternative_type + b"\r\n" + alternative
        mixed = b"\r\n--" + self._mixed + b"\r\n"
        return b"".join(
            (
                b'Content-Type: multipart/mixed; boundary="' + self._mixed + b'"\r\n\r\n',
                b"--" + self._mixed + b"\r\n",
                alternative_type + b"\r\n" + alternative,
                mixed + mixed.join(parts),
                b"\r\n--" + self._mixed + b"--\r\n",
            )
        )
