"""Email address validation and normalisation (email-validator; IDN domains to punycode)."""

from __future__ import annotations

import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

MAX_LENGTH = 254
# The common address, plain ASCII: a dot-atom of at most 64 characters, host labels of letters,
# digits and inner hyphens, a last label of letters. email-validator would only lowercase its
# domain, so it is taken as it is, lowercased (about 20 times faster: a bulk upsert checks
# 100,000). Anything else, "--" in the domain and the special-use names too, goes to it.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN = re.compile(rf"(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
_SPECIAL_USE = tuple(SPECIAL_USE_DOMAIN_NAMES)


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
    if _PLAIN.fullmatch(candidate):
        address = candidate.lower()
        domain = address.rpartition("@")[2]
        if "--" not in domain and not _special_use(domain):
            return address
    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    # Punycode domains where the local part allows it, so every relay accepts the address.
    address = result.ascii_email or result.normalized
    return address.lower()


def _special_use(domain: str) -> bool:
    return any(domain == name or domain.endswith(f".{name}") for name in _SPECIAL_USE)
