"""Open and click tracking, the pure rules: which events a person made and which a machine did.

A security scanner or link prefetcher follows every link of a message, usually within seconds of
its arrival; Apple Mail Privacy Protection fetches every image of a message through Apple's
proxies, whether or not anyone reads it. Both are kept (flagged), never counted as a person
(docs/tracking.md). No I/O: the caller passes the request's user agent and address, and the
address is used here only, never stored.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from notifier.domain.tokens import CLICK, OPEN

SCANNER, MPP = 1, 2  # flags of a tracking event; 0 is a person

# A click or open this soon after the message was composed is a machine's: no person opens a
# message and follows a link in it within seconds of its delivery.
PREFETCH_SECONDS = 10

# Substrings (lower case) of the User-Agent of link scanners and prefetchers that announce
# themselves. Kept small and documented; an unannounced scanner is caught by the time window.
SCANNER_AGENTS = (
    "barracuda",
    "proofpoint",
    "mimecast",
    "bingpreview",
    "google-safety",
    "googleimageproxy",
    "symantec",
    "messagelabs",
    "trendmicro",
    "forcepoint",
    "ironport",
    "fortiguard",
    "sophos",
    "safelinks",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
    "headlesschrome",
    "bot",
    "spider",
    "crawler",
)

# Networks of known scanning services (Microsoft Defender for Office 365 detonation and
# Proofpoint's URL defense publish larger lists; these are their best-known blocks).
SCANNER_NETWORKS = ("40.94.0.0/16", "52.100.0.0/14", "148.163.128.0/17", "67.231.144.0/20")

# Apple Mail Privacy Protection fetches images through Apple's own network (17.0.0.0/8) with a
# bare "Mozilla/5.0" User-Agent, whatever the device.
MPP_NETWORKS = ("17.0.0.0/8",)
MPP_AGENT = "mozilla/5.0"


@lru_cache(maxsize=8)
def _networks(
    cidrs: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


def _within(address: str | None, cidrs: tuple[str, ...]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(cidrs))


def classify(
    kind: str,
    user_agent: str | None,
    address: str | None,
    sent_at: int,
    now: int,
    prefetch_seconds: int = PREFETCH_SECONDS,
) -> int:
    """The event's flags: SCANNER, MPP, both, or 0 for what looks like a person.

    `sent_at` and `now` are Unix seconds; `address` is the client's IP address (used, not kept).
    """
    if kind not in (CLICK, OPEN):
        raise ValueError(f"unknown tracking event kind: {kind!r}")
    agent = (user_agent or "").strip().lower()
    flags = 0
    if kind == OPEN and (agent == MPP_AGENT or _within(address, MPP_NETWORKS)):
        flags |= MPP
    if (
        now - sent_at < prefetch_seconds
        or not agent
        or any(word in agent for word in SCANNER_AGENTS)
        or _within(address, SCANNER_NETWORKS)
    ):
        flags |= SCANNER
    return flags
