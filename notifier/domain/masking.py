"""Personal fields as public pages show them: enough to recognise, too little to learn."""

from __future__ import annotations

DOT = "•"


def mask(value: str | None) -> str:
    """Keep the first 2 and last 3 characters of longer values: "0901234567" -> "09•••••567"."""
    text = (value or "").strip()
    if len(text) <= 6:
        return DOT * len(text)
    return text[:2] + DOT * (len(text) - 5) + text[-3:]


def mask_email(address: str | None) -> str:
    """The first letter of the mailbox and the domain: "an@example.com" -> "a•••@example.com"."""
    local, at, domain = (address or "").partition("@")
    if not at:
        return mask(address)
    return f"{local[:1]}{DOT * 3}@{domain}"
