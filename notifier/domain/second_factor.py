"""Second-factor rules: TOTP codes (RFC 6238) that are never accepted twice, and recovery codes."""

from __future__ import annotations

import secrets
from datetime import datetime

import pyotp
from pyotp.exceptions import OTPVerificationError

# One 30-second step either side of now: phone clocks drift, and people type slowly.
STEP_WINDOW = 1
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: the codes are read off paper and typed by hand.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUP = 5


def new_secret() -> str:
    """160 random bits, base32, the length RFC 4226 recommends."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def accepted_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step a correct code belongs to, or None: wrong, malformed, or already used.

    A code is refused when its step is not after the last accepted one, so a code seen over a
    shoulder or in a proxy log cannot be replayed while it is still valid.
    """
    digits = "".join(code.split())
    if len(digits) != 6 or not digits.isascii() or not digits.isdigit():
        return None
    try:
        step = pyotp.TOTP(secret).verify_and_get_timecode(
            digits, for_time=now, valid_window=STEP_WINDOW
        )
    except OTPVerificationError:
        return None
    if last_step is not None and step <= last_step:
        return None
    return int(step)


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Codes like `k3xm9-p2hqa`: 50 random bits each, shown once and stored only hashed."""
    return [
        "-".join(
            "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP))
            for _ in range(2)
        )
        for _ in range(count)
    ]


def normalise_recovery_code(text: str) -> str | None:
    """The stored form of what a person typed (any case, spaces or no dash), or None."""
    letters = "".join(text.lower().split()).replace("-", "")
    if len(letters) != 2 * RECOVERY_GROUP or any(c not in RECOVERY_ALPHABET for c in letters):
        return None
    return f"{letters[:RECOVERY_GROUP]}-{letters[RECOVERY_GROUP:]}"
