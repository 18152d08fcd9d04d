"""DKIM signing (RFC 6376, rsa-sha256, relaxed/relaxed) with the RSA operation done by OpenSSL."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# Signed when present. The oversigned ones are also listed once more than they occur, so nobody can
# add a second From, Subject or List-Unsubscribe to a signed message without breaking the signature.
SIGNED_HEADERS = (
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-id",
    "feedback-id",
)
OVERSIGNED_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"}
)
_MIN_KEY_BITS = 1024
_FIELD_START = re.compile(rb"\r\n(?![ \t])")
# Only runs of two or more, or tabs: rewriting every single space would cost ten times as much.
_WSP_RUN = re.compile(rb" [ \t]+|\t[ \t]*")
_SPACE_RUN = re.compile(rb"  +")
_TRAILING_WSP = re.compile(rb"[ \t]+\r\n")
_SIG_LINE = 72
_CANONICAL_CACHE = 4096
_PADDING = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_DNS_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?")


class DkimConfigError(ValueError):
    """The DKIM key, domain or selector can't be used."""


class DkimKeyError(DkimConfigError):
    """The private key can't be loaded or is not an RSA key of at least 1024 bits."""


class DkimMessageError(ValueError):
    """The message has no header/body separator or lacks a From header, so it can't be signed."""


def relaxed_header(field: bytes) -> bytes:
    """Canonicalise one raw header field (name, colon, folded value) per RFC 6376 section 3.4.2."""
    name, _, value = field.partition(b":")
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" \t")
    return name.rstrip(b" \t").lower() + b":" + value + b"\r\n"


def relaxed_body(body: bytes) -> bytes:
    """Canonicalise a CRLF body per RFC 6376 section 3.4.4."""
    # Each scan of a 20 kB body costs microseconds, once per message: a one-byte search is the
    # cheapest (memchr), so the tab test goes first and is made once.
    tabs = b"\t" in body
    if tabs or b" \r\n" in body:
        body = _TRAILING_WSP.sub(b"\r\n", body)
    # Spaces only (the usual case: QP and base64 bodies hold no tabs): a pattern with a literal
    # start, which the regex engine scans five times faster.
    body = (_WSP_RUN if tabs else _SPACE_RUN).sub(b" ", body)
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    return body[:end] + b"\r\n" if end else b""


def _split(message: bytes) -> tuple[list[bytes], bytes]:
    """Return (raw header fields, body) of a CRLF message."""
    end = message.find(b"\r\n\r\n")
    if end < 0:
        raise DkimMessageError("message has no blank line between headers and body")
    return _FIELD_START.split(message[:end]), message[end + 4 :]


def _fold(tokens: Sequence[str], separator: str) -> str:
    """Join tokens, breaking before a token when a line would pass 72 characters."""
    lines = [tokens[0]]
    for token in tokens[1:]:
        if len(lines[-1]) + len(separator) + len(token) > _SIG_LINE:
            lines[-1] += separator
            lines.append(" " + token)
        else:
            lines[-1] += separator + token
    return "\r\n".join(lines)


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """Load an unencrypted PEM RSA private key, raising DkimKeyError otherwise."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise DkimKeyError(f"cannot load DKIM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < _MIN_KEY_BITS:
        raise DkimKeyError("DKIM key must be an RSA key of at least 1024 bits")
    return key


class DkimSigner:
    """Signs messages for one domain and selector."""

    def __init__(
        self,
        private_key_pem: bytes,
        *,
        domain: str,
        selector: str,
        headers: Sequence[str] = SIGNED_HEADERS,
    ) -> None:
        for value in (domain, selector):
            if not _DNS_NAME.fullmatch(value):
                raise DkimConfigError(f"invalid DKIM domain or selector: {value!r}")
        self._key = load_private_key(private_key_pem)
        self.domain = domain
        self.selector = selector
        self._names = [(name.lower(), name.lower().encode("ascii")) for name in headers]
        self._folded: dict[tuple[int, ...], str] = {}
        self._canonical: dict[bytes, bytes] = {}
        self._tags = f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s={selector};"

    @classmethod
    def from_file(cls, path: str | Path, *, domain: str, selector: str) -> DkimSigner:
        return cls(Path(path).read_bytes(), domain=domain, selector=selector)

    def dns_txt_record(self) -> str:
        """Return the TXT record value to publish at <selector>._domainkey.<domain>."""
        public = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")

    def sign(self, message: bytes, *, now: int | None = None) -> bytes:
        """Return `message` with a DKIM-Signature header prepended."""
        fields, body = _split(message)
        by_name: dict[bytes, list[bytes]] = {}
        for field in fields:
            by_name.setdefault(field.partition(b":")[0].strip().lower(), []).append(field)
        if b"from" not in by_name:
            raise DkimMessageError("a DKIM-signed message needs a From header")
        folded_names, signed = self._select(by_name)
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
        stamp = int(time.time()) if now is None else now
        header = (
            "DKIM-Signature: "
            + self._tags
            + f" t={stamp};\r\n "
            + folded_names
            + f";\r\n bh={body_hash};\r\n b="
        )
        data = b"".join(signed) + relaxed_header(header.encode("ascii"))[:-2]
        signature = self._key.sign(data, _PADDING, _SHA256)
        b64 = base64.b64encode(signature).decode("ascii")
        chunks = [b64[i : i + _SIG_LINE] for i in range(0, len(b64), _SIG_LINE)]
        return (header + "\r\n ".join(chunks) + "\r\n").encode("ascii") + message

    def _select(self, by_name: dict[bytes, list[bytes]]) -> tuple[str, list[bytes]]:
        """Return the folded h= list and the canonical fields, repeated ones from the bottom up.

        Every message of a campaign has the same header names and mostly the same fields
        (From, List-Id, Content-Type...), so both are remembered rather than redone.
        """
        counts = tuple(len(by_name.get(encoded, ())) for _, encoded in self._names)
        folded = self._folded.get(counts)
        if folded is None:
            names: list[str] = []
            for (name, _), count in zip(self._names, counts, strict=True):
                names.extend([name] * (count + (name in OVERSIGNED_HEADERS)))
            folded = self._folded[counts] = _fold(["h=" + names[0], *names[1:]], ":")
        signed: list[bytes] = []
        canonical = self._canonical
        if len(canonical) > _CANONICAL_CACHE:
            canonical.clear()  # per-recipient fields would otherwise pile up
        for _, encoded in self._names:
            for field in reversed(by_name.get(encoded, ())):
                known = canonical.get(field)
                if known is None:
                    known = canonical[field] = relaxed_header(field)
                signed.append(known)
        return folded, signed
