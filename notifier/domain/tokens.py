"""Unforgeable, never-expiring link tokens and VERP bounce addresses, HMAC-SHA256 signed."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass

_VERSION = 1
_MAC_BYTES = 16
_MAX_TOKEN = 512
_MAX_ID_BYTES = 8
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_VERP_MAC_BYTES = 10
_VERP_LOCAL = re.compile(r"b-(0|[1-9][0-9]{0,19})-([a-z2-7]{16})")
# Domain separation: a link token's MAC can never be replayed as a VERP address's MAC or vice versa.
_TOKEN_CONTEXT = b"notifier/token/v1\x00"
_VERP_CONTEXT = b"notifier/verp/v1\x00"


class InvalidToken(ValueError):
    """The token or VERP address was not made with this secret for this use, or is malformed."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    contact_id: int
    purpose: str | None  # None: the token speaks for all advertising purposes
    action: str


def _mac(secret: bytes, context: bytes, *parts: bytes) -> bytes:
    message = context + b"\x00".join(parts)
    return hmac.digest(secret, message, "sha256")  # OpenSSL's one-shot HMAC: no Python objects


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_token(secret: bytes, contact_id: int, purpose: str | None, action: str) -> str:
    """Return a URL-safe token binding contact, purpose (None = all advertising) and action."""
    if not secret:
        raise ValueError("token secret is empty")
    if not action or not action.isascii() or "\x00" in action:
        raise ValueError(f"bad token action: {action!r}")
    if purpose == "":
        raise ValueError("purpose must be a key or None, not empty")
    if not 0 <= contact_id < 1 << (8 * _MAX_ID_BYTES):
        raise ValueError(f"contact id out of range: {contact_id}")
    id_bytes = contact_id.to_bytes(max(1, (contact_id.bit_length() + 7) // 8), "big")
    payload = bytes((_VERSION, len(id_bytes))) + id_bytes + (purpose or "").encode("utf-8")
    return _b64(
        payload + _mac(secret, _TOKEN_CONTEXT, action.encode("ascii"), payload)[:_MAC_BYTES]
    )


def _decode(token: object) -> bytes:
    """Return the token's bytes, refusing anything but the one canonical unpadded encoding."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN or not _TOKEN_CHARS.fullmatch(token):
        raise InvalidToken("malformed token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed token") from None
    # Unused low bits of the last character don't change the bytes: such variants are refused.
    if _b64(raw) != token:
        raise InvalidToken("malformed token")
    return raw


def verify_token(secret: bytes, token: str, action: str) -> TokenClaims:
    """Return the claims of a token made by make_token with this secret and action.

    Raises InvalidToken for anything else: tampering, wrong action or secret, bad encoding.
    """
    raw = _decode(token)
    if len(raw) < 3 + _MAC_BYTES or raw[0] != _VERSION or not 1 <= raw[1] <= _MAX_ID_BYTES:
        raise InvalidToken("malformed token")
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(payload) < 2 + raw[1]:
        raise InvalidToken("malformed token")
    expected = _mac(secret, _TOKEN_CONTEXT, action.encode("utf-8", "replace"), payload)
    if not hmac.compare_digest(mac, expected[:_MAC_BYTES]):
        raise InvalidToken("token signature does not match")
    contact_id = int.from_bytes(payload[2 : 2 + raw[1]], "big")
    purpose = payload[2 + raw[1] :].decode("utf-8")  # signed by us, so valid UTF-8
    return TokenClaims(contact_id=contact_id, purpose=purpose or None, action=action)


def _verp_mac(secret: bytes, delivery_id: int) -> str:
    mac = _mac(secret, _VERP_CONTEXT, str(delivery_id).encode("ascii"))[:_VERP_MAC_BYTES]
    # Lower-case base32: some MTAs change the case of local parts, and base32 survives that.
    return base64.b32encode(mac).decode("ascii").lower()


def verp_address(secret: bytes, delivery_id: int, bounce_domain: str) -> str:
    """Return the envelope sender `b-<id>-<mac>@bounce_domain` that names one delivery."""
    if delivery_id < 0:
        raise ValueError(f"delivery id out of range: {delivery_id}")
    return f"b-{delivery_id}-{_verp_mac(secret, delivery_id)}@{bounce_domain}"


def parse_verp(secret: bytes, address: str) -> int:
    """Return the delivery id of a VERP address made with this secret; InvalidToken otherwise."""
    if not isinstance(address, str) or len(address) > 320:
        raise InvalidToken("malformed VERP address")
    match = _VERP_LOCAL.fullmatch(address.rpartition("@")[0].lower())
    if match is None:
        raise InvalidToken("malformed VERP address")
    delivery_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _verp_mac(secret, delivery_id)):
        raise InvalidToken("VERP signature does not match")
    return delivery_id
