"""Outgoing webhooks, the pure rules: which events exist and what their data may hold, the
signature a receiver checks, the backoff between attempts, and which addresses an endpoint may
not point at (SSRF). No I/O: the caller resolves names, reads the clock and draws the jitter."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from notifier.domain.errors import DomainError, ValidationFailed

SIGNATURE_HEADER = "Notifier-Signature"
EVENT_ID_HEADER = "Notifier-Event-Id"
# What docs/webhooks.md tells receivers to accept: a timestamp this far from their clock, at most.
TOLERANCE_SECONDS = 300

# Each event type and the only keys its data may hold: ids first, and the least personal data a
# receiver needs to act on it (docs/webhooks.md says why each is there). capture() refuses others.
EVENTS: dict[str, frozenset[str]] = {
    "consent.granted": frozenset(
        {"contact_id", "external_ref", "purpose", "channel", "consent_event_id"}
    ),
    "consent.withdrawn": frozenset(
        {"contact_id", "external_ref", "purpose", "channel", "consent_event_id"}
    ),
    "contact.suppressed": frozenset({"contact_id", "external_ref", "scope", "reason"}),
    "notice.status_changed": frozenset(
        {"notice_id", "type", "status", "reason", "contact_id", "external_ref"}
        | {"sent_at", "message_id", "smtp_code"}
    ),
    "privacy_request.created": frozenset({"privacy_request_id", "kind", "status", "contact_id"}),
    "privacy_request.completed": frozenset({"privacy_request_id", "kind", "status", "contact_id"}),
    "campaign.finished": frozenset({"campaign_id", "status", "counts"}),
    "subscription.reminder_sent": frozenset(
        {"subscription_id", "contact_id", "external_ref", "reminder", "due_on", "notice_id"}
    ),
}
EVENT_TYPES = tuple(EVENTS)


class UnknownEvent(DomainError):
    """An event type or data key the catalogue above does not define."""


class EndpointRefused(ValidationFailed):
    """An endpoint URL that may not be used: wrong scheme, or an address inside our network."""

    def __init__(self, problem: str) -> None:
        super().__init__({"url": problem})


def check_event(event_type: str, data: Mapping[str, object]) -> None:
    allowed = EVENTS.get(event_type)
    if allowed is None:
        raise UnknownEvent(f"unknown webhook event {event_type!r}")
    extra = sorted(set(data) - allowed)
    if extra:
        raise UnknownEvent(f"{event_type}: data keys not in the catalogue: {', '.join(extra)}")


def check_subscriptions(events: Iterable[str]) -> list[str]:
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise ValidationFailed({"events": "choose at least one event"})
    return chosen


# ---- signatures ------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (as Stripe's)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver runs: a timestamp within `tolerance` of its clock (a captured request
    replayed later fails) and a matching HMAC over that timestamp and the raw body, compared in
    constant time. Any v1 in the header may match (two are sent while a secret is rotated)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts.get("t", [""])[0])
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


# ---- retries -----------------------------------------------------------------------------------


def backoff_seconds(attempts: int, base: float, cap: float, jitter: float) -> float:
    """Wait after the `attempts`-th failure: base * 2^(attempts-1), at most `cap`, scaled by a
    jitter in [0.5, 1] so endpoints that failed together do not all come back at once.
    `jitter` is a number in [0, 1) the caller draws."""
    exponential = min(cap, base * 2 ** max(0, attempts - 1))
    return exponential * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))


# ---- endpoint addresses (SSRF) -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str) -> Target:
    """http(s) with a host, no credentials; the caller checks the addresses it resolves to."""
    if len(url) > 2000 or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise EndpointRefused("not a valid URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EndpointRefused("not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise EndpointRefused("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("must not hold a user name or password")
    default = 443 if parts.scheme == "https" else 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port or default, path)


def is_internal(address: str) -> bool:
    """Loopback, private, link-local (the cloud metadata address), shared, reserved, multicast:
    anything that is not the public internet, where a webhook must not reach on our behalf."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def allowed(address: str, networks: Iterable[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def check_addresses(target: Target, addresses: Iterable[str], networks: Iterable[str]) -> None:
    """Every address the name resolves to must be public, or inside a network the operator
    allowed (a test or development setup); plain http only to such an allowed address."""
    found = list(addresses)
    if not found:
        raise EndpointRefused(f"{target.host} does not resolve")
    allow = list(networks)
    for address in found:
        permitted = allowed(address, allow)
        if is_internal(address) and not permitted:
            raise EndpointRefused(f"{target.host} is an internal address ({address})")
        if target.scheme != "https" and not permitted:
            raise EndpointRefused("must be an https:// URL")
