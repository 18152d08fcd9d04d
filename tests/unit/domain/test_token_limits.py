"""Token and VERP edges as truth tables: known answers, length and charset limits, messages."""

from __future__ import annotations

import base64
import hmac

import pytest

from notifier.domain.tokens import InvalidToken, TokenClaims, make_token, parse_verp, verify_token
from notifier.domain.tokens import verp_address as verp

SECRET = b"k" * 32


def signed(payload: bytes, action: str = "u") -> str:
    """A token built from the documented format: version, id length, id, purpose, 16-byte MAC."""
    message = b"notifier/token/v1\x00" + action.encode() + b"\x00" + payload
    mac = hmac.digest(SECRET, message, "sha256")[:16]
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()


# Links in mail already sent never expire: these must keep verifying after any upgrade.
@pytest.mark.parametrize(
    ("token", "claims"),
    [
        ("AQEqcHJvbW90aW9uc-m3QrRo2LjQiVC7dbnkqxs", TokenClaims(42, "promotions", "u")),
        ("AQIBLGsyT3mdEcywPPh6PZhVbfg", TokenClaims(300, None, "p")),
    ],
)
def test_known_answers(token: str, claims: TokenClaims) -> None:
    assert make_token(SECRET, claims.contact_id, claims.purpose, claims.action) == token
    assert verify_token(SECRET, token, claims.action) == claims


def test_known_verp_answer() -> None:
    address = "b-12345-btdo654qcy2a3c22@bounce.example.vn"
    assert verp(SECRET, 12345, "bounce.example.vn") == address
    assert parse_verp(SECRET, address) == 12345


def test_the_documented_format_verifies() -> None:
    assert verify_token(SECRET, signed(b"\x01\x02\x01\x00ab"), "u") == TokenClaims(256, "ab", "u")


@pytest.mark.parametrize("contact_id", range(0, 3000, 7))
def test_round_trip_of_many_ids(contact_id: int) -> None:
    token = make_token(SECRET, contact_id, "p", "u")
    assert verify_token(SECRET, token, "u").contact_id == contact_id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((b"", 1, None, "u"), "token secret is empty"),
        ((SECRET, 1, None, ""), "bad token action: ''"),
        ((SECRET, 1, None, "ư"), "bad token action: 'ư'"),
        ((SECRET, 1, None, "u\x00"), "bad token action: 'u\\\\x00'"),
        ((SECRET, 1, "", "u"), "purpose must be a key or None, not empty"),
        ((SECRET, -1, None, "u"), "contact id out of range: -1"),
        ((SECRET, 2**64, None, "u"), f"contact id out of range: {2**64}"),
    ],
)
def test_make_token_refuses(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^{message}$"):
        make_token(*args)


@pytest.mark.parametrize(("purpose_length", "ok"), [(365, True), (366, False)])
def test_tokens_up_to_512_characters(purpose_length: int, ok: bool) -> None:
    token = make_token(SECRET, 1, "p" * purpose_length, "u")
    assert len(token) == (512 if ok else 514)
    if ok:
        assert verify_token(SECRET, token, "u").purpose == "p" * purpose_length
    else:
        with pytest.raises(InvalidToken, match=r"^malformed token$"):
            verify_token(SECRET, token, "u")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "malformed token"),
        ("", "malformed token"),
        ("AQ", "malformed token"),  # one byte, the version alone
        ("A", "malformed token"),  # not base64 at all
        ("AQEq+HJv", "malformed token"),  # '+' is not in the URL-safe alphabet
        # The last character's unused low bits changed: same bytes, but not the one encoding.
        ("AQEqcHJvbW90aW9uc-m3QrRo2LjQiVC7dbnkqxt", "malformed token"),
        ("AQEqcHJv bW90", "malformed token"),
        (signed(b"\x02\x01\x05p"), "malformed token"),  # another version, correctly signed
        (signed(b"\x01\x00p"), "malformed token"),  # no id bytes
        (signed(b"\x01\x09" + b"\x01" * 9), "malformed token"),  # id longer than 8 bytes
        (signed(b"\x01\x08\x01"), "malformed token"),  # promises 8 id bytes, has 1
        (signed(b"\x01\x01\x05p", "p"), "token signature does not match"),
        (make_token(b"j" * 32, 5, None, "u"), "token signature does not match"),
    ],
)
def test_verify_token_refuses(token: object, message: str) -> None:
    with pytest.raises(InvalidToken, match=rf"^{message}$"):
        verify_token(SECRET, token, "u")  # type: ignore[arg-type]


def test_an_action_that_cannot_be_encoded_is_just_wrong() -> None:
    token = make_token(SECRET, 1, None, "u")
    with pytest.raises(InvalidToken, match=r"^token signature does not match$"):
        verify_token(SECRET, token, "\ud800")


def test_verp_refuses_a_negative_id() -> None:
    with pytest.raises(ValueError, match=r"^delivery id out of range: -1$"):
        verp(SECRET, -1, "b.example")


def test_verp_addresses_up_to_320_characters() -> None:
    base = verp(SECRET, 7, "x")
    longest = verp(SECRET, 7, "x" * (321 - len(base)))
    assert len(longest) == 320 and parse_verp(SECRET, longest) == 7
    too_long = verp(SECRET, 7, "x" * (322 - len(base)))
    with pytest.raises(InvalidToken, match=r"^malformed VERP address$"):
        parse_verp(SECRET, too_long)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (None, "malformed VERP address"),
        ("b-7-aaaaaaaaaaaaaaaa", "malformed VERP address"),  # no domain
        ("x@" + verp(SECRET, 7, "b.example"), "malformed VERP address"),
        (verp(SECRET, 7, "b.example").replace("@", "@x@"), "malformed VERP address"),
        ("b-7-aaaaaaaaaaaaaaaa@b.example", "VERP signature does not match"),
        (verp(b"j" * 32, 7, "b.example"), "VERP signature does not match"),
    ],
)
def test_parse_verp_refuses(address: object, message: str) -> None:
    with pytest.raises(InvalidToken, match=rf"^{message}$"):
        parse_verp(SECRET, address)  # type: ignore[arg-type]


def test_verp_survives_an_mta_that_upper_cases_it() -> None:
    assert parse_verp(SECRET, verp(SECRET, 99, "b.example").upper()) == 99
