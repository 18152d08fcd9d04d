"""Address normalisation: email-validator rules, IDN to punycode, clear messages."""

from __future__ import annotations

import pytest

from notifier.domain.addresses import InvalidAddress, normalise_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Lan.Nguyen@Example.COM ", "lan.nguyen@example.com"),
        ("an@bücher.example", "an@xn--bcher-kva.example"),
        ("khach@công-ty.vn", "khach@xn--cng-ty-ixa.vn"),
    ],
)
def test_addresses_are_normalised(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("no-at-sign", "@"),
        ("a@b", "after the @-sign"),
        ("x\r\nBcc: y@example.com", "line break"),
        ("a" * 250 + "@example.com", "longer than 254"),
        ("two@@example.com", ""),
    ],
)
def test_bad_addresses_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(InvalidAddress, match=message):
        normalise_email(raw)
