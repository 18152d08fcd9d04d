"""Link tokens and VERP addresses: round trips; any forgery or garbage input is InvalidToken."""

from __future__ import annotations

import base64
import string

import pytest

from notifier.domain.tokens import (
    InvalidToken,
    TokenClaims,
    make_token,
    parse_verp,
    verify_token,
    verp_address,
)

SECRET = b"k" * 32
OTHER_SECRET = b"j" * 32
ALPHABET = string.ascii_letters + string.digits + "-_"


@pytest.mark.parametrize("contact_id", [0, 1, 255, 256, 2**31, 2**64 - 1])
@pytest.mark.parametrize("purpose", [None, "promotions", "chăm-sóc-khách-hàng"])
@pytest.mark.parametrize("action", ["u", "p"])
def test_round_trip(contact_id: int, purpose: str | None, action: str) -> None:
    token = make_token(SECRET, contact_id, purpose, action)
    assert set(token) <= set(ALPHABET)
    assert verify_token(SECRET, token, action) == TokenClaims(contact_id, purpose, action)


def test_tokens_are_short() -> None:
    assert len(make_token(SECRET, 123_456, "promotions", "u")) <= 48


def test_every_single_character_change_is_refused() -> None:
    token = make_token(SECRET, 987_654, "promotions", "u")
    for index, original in enumerate(token):
        for replacement in ALPHABET:
            if replacement != original:
                forged = token[:index] + replacement + token[index + 1 :]
                with pytest.raises(InvalidToken):
                    verify_token(SECRET, forged, "u")


def test_dropped_or_added_characters_are_refused() -> None:
    token = make_token(SECRET, 5, "events", "u")
    for forged in (token[:-1], token[1:], token + "A", "A" + token, token + "=", token * 2):
        with pytest.raises(InvalidToken):
            verify_token(SECRET, forged, "u")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


@pytest.mark.parametrize("other", ["events", "promotionz", "", "promotions-all"])
def test_purpose_a_token_never_verifies_as_purpose_b(other: str) -> None:
    token = make_token(SECRET, 5, "promotions", "u")
    assert verify_token(SECRET, token, "u").purpose == "promotions"
    raw = _raw(token)
    # Keep the signature, swap the purpose it was made for.
    spliced = _b64(raw[:3] + other.encode() + raw[-16:])
    with pytest.raises(InvalidToken):
        verify_token(SECRET, spliced, "u")


def test_contact_cannot_be_swapped() -> None:
    raw = _raw(make_token(SECRET, 5, "promotions", "u"))
    with pytest.raises(InvalidToken):
        verify_token(SECRET, _b64(raw[:2] + b"\x06" + raw[3:]), "u")


def test_wrong_action_is_refused() -> None:
    token = make_token(SECRET, 5, "promotions", "p")
    with pytest.raises(InvalidToken):
        verify_token(SECRET, token, "u")


def test_wrong_secret_is_refused() -> None:
    token = make_token(SECRET, 5, None, "u")
    with pytest.raises(InvalidToken):
        verify_token(OTHER_SECRET, token, "u")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "A",
        "AA",
        "AAA",
        "AAAA" * 10,
        "A" * 100_000,
        "====",
        "ưu-đãi",
        "😀" * 20,
        "abc def",
        "abc\r\nBcc: x",
        "\x00" * 40,
        "+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/",
        "AQEFcHJvbW90aW9ucw",
        None,
        12345,
        b"bytes-token",
    ],
)
def test_garbage_is_invalid_token_never_another_error(garbage: object) -> None:
    with pytest.raises(InvalidToken):
        verify_token(SECRET, garbage, "u")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("contact_id", "purpose", "action"),
    [(-1, None, "u"), (2**64, None, "u"), (1, "", "u"), (1, None, ""), (1, None, "hủy")],
)
def test_make_token_refuses_bad_input(contact_id: int, purpose: str | None, action: str) -> None:
    with pytest.raises(ValueError):
        make_token(SECRET, contact_id, purpose, action)


@pytest.mark.parametrize("delivery_id", [0, 1, 42, 2**63])
def test_verp_round_trip(delivery_id: int) -> None:
    address = verp_address(SECRET, delivery_id, "bounce.dcnet.vn")
    assert address.endswith("@bounce.dcnet.vn")
    assert parse_verp(SECRET, address) == delivery_id
    assert parse_verp(SECRET, address.upper()) == delivery_id  # MTAs may change case


def test_verp_forgeries_are_refused() -> None:
    address = verp_address(SECRET, 42, "bounce.dcnet.vn")
    local = address.split("@")[0]
    forged = [
        address.replace("b-42-", "b-43-"),
        address.replace("b-42-", "b-042-"),
        verp_address(OTHER_SECRET, 42, "bounce.dcnet.vn"),
        local[:-1] + ("a" if local[-1] != "a" else "b") + "@bounce.dcnet.vn",
        "",
        "b-42@bounce.dcnet.vn",
        "postmaster@bounce.dcnet.vn",
        "b-42-" + "a" * 16 + "@x",
        "ư" * 400,
    ]
    for candidate in forged:
        with pytest.raises(InvalidToken):
            parse_verp(SECRET, candidate)
