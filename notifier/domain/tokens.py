"""Unforgeable link tokens, lasting and short-lived, and VERP addresses, HMAC-SHA256 signed."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
_EXPIRING_CONTEXT = b"notifier/expiring/v1\x00"
_EXPIRING_VERSION = 2
_NONCE_BYTES = 12


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


def make_campaign_token(secret: bytes, campaign_id: int, contact_id: int, action: str) -> str:
    """A lasting token naming one contact in one campaign (the campaign in the purpose slot):
    RSVP and web view links, each with its own action so one never opens the other's page."""
    if campaign_id < 1:
        raise ValueError(f"campaign id out of range: {campaign_id}")
    return make_token(secret, contact_id, str(campaign_id), action)


def read_campaign_token(secret: bytes, token: str, action: str) -> tuple[int, int]:
    """(campaign id, contact id) of a genuine campaign token for this action; InvalidToken else."""
    claims = verify_token(secret, token, action)
    campaign = claims.purpose or ""
    # Only the canonical spelling we make: no sign, no leading zero, no other digits.
    if not campaign.isascii() or not campaign.isdigit() or campaign.startswith("0"):
        raise InvalidToken("not a campaign token")
    return int(campaign), claims.contact_id


class ExpiredToken(InvalidToken):
    """A genuine short-lived token whose time is up."""


@dataclass(frozen=True, slots=True)
class ExpiringClaims:
    contact_id: int
    action: str
    issued_at: datetime
    nonce: str  # hex; names this one link, so a use can be recorded and refused a second time


def make_expiring_token(
    secret: bytes, contact_id: int, action: str, issued_at: datetime, nonce: bytes
) -> str:
    """Return a URL-safe token for one action on one contact, issued at a given second."""
    if not secret:
        raise ValueError("token secret is empty")
    if not action or not action.isascii() or "\x00" in action:
        raise ValueError(f"bad token action: {action!r}")
    if len(nonce) != _NONCE_BYTES:
        raise ValueError(f"nonce must have {_NONCE_BYTES} bytes")
    if not 0 <= contact_id < 1 << (8 * _MAX_ID_BYTES):
        raise ValueError(f"contact id out of range: {contact_id}")
    payload = (
        bytes((_EXPIRING_VERSION,))
        + contact_id.to_bytes(_MAX_ID_BYTES, "big")
        + int(issued_at.timestamp()).to_bytes(8, "big")
        + nonce
    )
    mac = _mac(secret, _EXPIRING_CONTEXT, action.encode("ascii"), payload)[:_MAC_BYTES]
    return _b64(payload + mac)


def verify_expiring_token(
    secret: bytes, token: str, action: str, now: datetime, max_age: timedelta
) -> ExpiringClaims:
    """Return the claims of a token from make_expiring_token that is younger than max_age.

    Raises ExpiredToken for a genuine but old one, InvalidToken for anything else.
    """
    raw = _decode(token)
    size = 1 + _MAX_ID_BYTES + 8 + _NONCE_BYTES
    if len(raw) != size + _MAC_BYTES or raw[0] != _EXPIRING_VERSION:
        raise InvalidToken("malformed token")
    payload, mac = raw[:size], raw[size:]
    expected = _mac(secret, _EXPIRING_CONTEXT, action.encode("utf-8", "replace"), payload)
    if not hmac.compare_digest(mac, expected[:_MAC_BYTES]):
        raise InvalidToken("token signature does not match")
    contact_id = int.from_bytes(payload[1 : 1 + _MAX_ID_BYTES], "big")
    seconds = int.from_bytes(payload[1 + _MAX_ID_BYTES : 9 + _MAX_ID_BYTES], "big")
    issued_at = datetime.fromtimestamp(seconds, UTC)
    # A token from the future (clock skew between web processes) is only trusted by a minute.
    if not issued_at - timedelta(minutes=1) <= now <= issued_at + max_age:
        raise ExpiredToken("token expired")
    return ExpiringClaims(contact_id, action, issued_at, payload[9 + _MAX_ID_BYTES :].hex())


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


_TRACKING_CONTEXT = b"notifier/tracking/v1\x00"
_TRACKING_VERSION = 3
_TRACKING_MAC_BYTES = 12  # 96 bits, as HMAC-SHA-256-96: a link in every message, kept short
MAX_TRACKED_URL = 300  # a longer link stays as it is: the token must fit _MAX_TOKEN
CLICK, OPEN = "c", "o"


@dataclass(frozen=True, slots=True)
class TrackingClaims:
    kind: str  # CLICK or OPEN
    campaign_id: int
    contact_id: int
    sent_at: int  # Unix seconds the message was composed: "within N seconds of delivery"
    link: int  # the link's place in the message (0 for an open)
    url: str  # the destination fixed at send time ("" for an open)


def make_tracking_token(
    secret: bytes, kind: str, campaign_id: int, contact_id: int, sent_at: int, link: int, url: str
) -> str:
    """A click or open token: campaign, contact, send time, link index and destination, signed.
    The destination travels in the token, so the redirect needs no lookup and can go nowhere
    else (the MAC covers it)."""
    if kind not in (CLICK, OPEN) or not 0 <= link < 256 or not 0 <= sent_at < 1 << 32:
        raise ValueError("bad tracking token fields")
    if campaign_id < 1 or not 0 <= contact_id < 1 << (8 * _MAX_ID_BYTES):
        raise ValueError("id out of range")
    encoded_url = url.encode("utf-8")
    if (kind == CLICK) != bool(encoded_url) or len(encoded_url) > MAX_TRACKED_URL:
        raise ValueError("a click names its destination, an open none")
    campaign = campaign_id.to_bytes(max(1, (campaign_id.bit_length() + 7) // 8), "big")
    contact = contact_id.to_bytes(max(1, (contact_id.bit_length() + 7) // 8), "big")
    payload = (
        bytes((_TRACKING_VERSION, ord(kind), len(campaign), len(contact)))
        + campaign
        + contact
        + sent_at.to_bytes(4, "big")
        + bytes((link,))
        + encoded_url
    )
    mac = _mac(secret, _TRACKING_CONTEXT, payload)[:_TRACKING_MAC_BYTES]
    return _b64(payload + mac)


def read_tracking_token(secret: bytes, token: str, kind: str) -> TrackingClaims:
    """The claims of a genuine token of this kind; InvalidToken for anything else."""
    raw = _decode(token)
    if len(raw) < 4 + _TRACKING_MAC_BYTES or raw[0] != _TRACKING_VERSION or raw[1] != ord(kind):
        raise InvalidToken("malformed token")
    payload, mac = raw[:-_TRACKING_MAC_BYTES], raw[-_TRACKING_MAC_BYTES:]
    expected = _mac(secret, _TRACKING_CONTEXT, payload)[:_TRACKING_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise InvalidToken("token signature does not match")
    sizes = raw[2], raw[3]
    start = 4 + sizes[0] + sizes[1]
    if (
        not (1 <= sizes[0] <= _MAX_ID_BYTES and 1 <= sizes[1] <= _MAX_ID_BYTES)
        or len(payload) < start + 5
    ):
        raise InvalidToken("malformed token")
    url = payload[start + 5 :].decode("utf-8")  # signed by us, so valid UTF-8
    # Only what make_tracking_token makes: defence in depth against a leaked secret's misuse.
    if (kind == CLICK) != url.startswith(("https://", "http://")):
        raise InvalidToken("not a tracking token")
    return TrackingClaims(
        kind=kind,
        campaign_id=int.from_bytes(payload[4 : 4 + sizes[0]], "big"),
        contact_id=int.from_bytes(payload[4 + sizes[0] : start], "big"),
        sent_at=int.from_bytes(payload[start : start + 4], "big"),
        link=payload[start + 4],
        url=url,
    )
