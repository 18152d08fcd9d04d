"""Email address validation and normalisation (email-validator; IDN domains to punycode)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254


class InvalidAddress(ValueError):
    """The message says what is wrong, in words a person importing a file can act on."""


def normalise_email(raw: str) -> str:
    candidate = (raw or "").strip()
    if not candidate:
        raise InvalidAddress("the email address is empty")
    if any(ch in candidate for ch in "\r\n\0"):
        raise InvalidAddress("the email address contains a line break or NUL character")
    if len(candidate) > MAX_LENGTH:
        raise InvalidAddress(f"the email address is longer than {MAX_LENGTH} characters")
    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    # Punycode domains where the local part allows it, so every relay accepts the address.
    address = result.ascii_email or result.normalized
    return address.lower()
