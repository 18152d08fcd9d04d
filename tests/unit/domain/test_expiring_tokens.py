"""Short-lived link tokens: fresh ones verify; late, early, forged or misused ones do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.tokens import (
    ExpiredToken,
    InvalidToken,
    make_expiring_token,
    make_token,
    verify_expiring_token,
)

SECRET, ISSUED = b"s" * 32, datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
NONCE, AGE = bytes(range(12)), timedelta(minutes=30)
TOKEN = make_expiring_token(SECRET, 42, "verify:export", ISSUED, NONCE)


@pytest.mark.parametrize("minutes", [0, 1, 29, 30])
def test_fresh_tokens_verify(minutes: int) -> None:
    claims = verify_expiring_token(
        SECRET, TOKEN, "verify:export", ISSUED + timedelta(minutes=minutes), AGE
    )
    assert (claims.contact_id, claims.issued_at, claims.nonce) == (42, ISSUED, NONCE.hex())


@pytest.mark.parametrize("minutes", [31, 60 * 24, -2])
def test_late_or_future_tokens_expire(minutes: int) -> None:
    with pytest.raises(ExpiredToken):
        verify_expiring_token(
            SECRET, TOKEN, "verify:export", ISSUED + timedelta(minutes=minutes), AGE
        )


@pytest.mark.parametrize(
    ("secret", "token", "action"),
    [
        (b"other" * 8, TOKEN, "verify:export"),
        (SECRET, TOKEN, "verify:erasure"),
        (SECRET, TOKEN[:-2] + ("AA" if TOKEN[-2:] != "AA" else "BB"), "verify:export"),
        (SECRET, make_token(SECRET, 42, None, "verify:export"), "verify:export"),
        (SECRET, "", "verify:export"),
    ],
)
def test_forged_or_misused_tokens_are_invalid(secret: bytes, token: str, action: str) -> None:
    with pytest.raises(InvalidToken) as raised:
        verify_expiring_token(secret, token, action, ISSUED, AGE)
    assert not isinstance(raised.value, ExpiredToken)
