"""Hard or soft: what an SMTP reply (RFC 3463 enhanced code, RFC 5321 code, wording) means."""

from __future__ import annotations

import re

from notifier.domain.bounces.model import Kind

ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
BASIC = re.compile(r"(?<![\d.])([245]\d\d)(?![\d.])")
ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")
DIAGNOSTIC_MAX = 300

# Wording that settles the question whatever the code says (MTAs disagree on codes, not words).
FULL = re.compile(
    r"mailbox (is )?full|over ?quota|quota exceeded|exceeded (the )?storage|"
    r"insufficient (system )?storage|mailbox size limit",
    re.I,
)
NO_SUCH_USER = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|doesn't exist|"
    r"address not found|recipient not found|invalid recipient|mailbox unavailable|"
    r"recipient address rejected|not a valid mailbox|account (is )?(disabled|inactive)|"
    r"doesn't have a .* account|mailbox not found|unrouteable address|no mailbox here",
    re.I,
)
POLICY = re.compile(
    r"spam|blocked|block ?list|blacklist|listed|reputation|rate limit|policy|dmarc|"
    r"not authori[sz]ed|unauthenticated",
    re.I,
)
# (class 5) subject.detail -> (kind, category); the rest of a subject falls back to SUBJECTS.
DETAILS = {
    "2.1": (Kind.HARD_BOUNCE, "mailbox_disabled"),
    "2.2": (Kind.SOFT_BOUNCE, "mailbox_full"),
    "2.3": (Kind.SOFT_BOUNCE, "message_too_big"),
    "4.1": (Kind.HARD_BOUNCE, "bad_mailbox"),  # Exchange Online: "Recipient address rejected"
    "4.4": (Kind.HARD_BOUNCE, "bad_domain"),
    "1.2": (Kind.HARD_BOUNCE, "bad_domain"),
    "1.10": (Kind.HARD_BOUNCE, "bad_domain"),  # RFC 7505 null MX
}
SUBJECTS = {
    "1": (Kind.HARD_BOUNCE, "bad_mailbox"),
    "2": (Kind.SOFT_BOUNCE, "mailbox"),
    "3": (Kind.SOFT_BOUNCE, "system"),
    "4": (Kind.SOFT_BOUNCE, "network"),
    "5": (Kind.SOFT_BOUNCE, "protocol"),
    "6": (Kind.SOFT_BOUNCE, "content"),
    "7": (Kind.SOFT_BOUNCE, "policy"),
}
BASIC_CODES = {
    "550": (Kind.HARD_BOUNCE, "bad_mailbox"),
    "551": (Kind.HARD_BOUNCE, "bad_mailbox"),
    "552": (Kind.SOFT_BOUNCE, "mailbox_full"),
    "553": (Kind.HARD_BOUNCE, "bad_mailbox"),
}


def redact(text: str) -> str:
    """Evidence is kept for years: no address in it, only the server's words."""
    flat = " ".join(text.split())
    return ADDRESS.sub("<address>", flat).replace("<<address>>", "<address>")[:DIAGNOSTIC_MAX]


def enhanced_code(*texts: str | None) -> str | None:
    for text in texts:
        match = ENHANCED.search(text or "")
        if match:
            return ".".join(match.groups())
    return None


def classify_status(status: str | None, diagnostic: str = "") -> tuple[Kind, str, str | None]:
    """Return (kind, category, enhanced code) for a permanent failure's status and diagnostic."""
    code = enhanced_code(status, diagnostic)
    basic = BASIC.search(diagnostic or "")
    klass = code[0] if code else (basic.group(1)[0] if basic else None)
    if klass == "2":
        return Kind.UNKNOWN, "delivered", code
    if FULL.search(diagnostic):
        return Kind.SOFT_BOUNCE, "mailbox_full", code
    if klass == "4":
        return Kind.SOFT_BOUNCE, "transient", code
    if klass != "5" and klass is not None:
        return Kind.UNKNOWN, "unrecognised", code
    if NO_SUCH_USER.search(diagnostic):
        return Kind.HARD_BOUNCE, "bad_mailbox", code
    if code and code != "5.0.0":
        _, subject, detail = code.split(".")
        found = DETAILS.get(f"{subject}.{detail}") or SUBJECTS.get(subject)
        if found:
            return found[0], found[1], code
    if POLICY.search(diagnostic):
        return Kind.SOFT_BOUNCE, "policy", code
    if basic and basic.group(1) in BASIC_CODES:
        kind, category = BASIC_CODES[basic.group(1)]
        return kind, category, code
    # A permanent failure we cannot explain: counted, but one alone never suppresses.
    return Kind.SOFT_BOUNCE, "unexplained", code
