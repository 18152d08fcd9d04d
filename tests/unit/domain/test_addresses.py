"""Address normalisation: email-validator rules, IDN to punycode, clear messages."""

from __future__ import annotations

import random
import re

import pytest

from notifier.domain import addresses
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


def _outcome(raw: str) -> str:
    try:
        return normalise_email(raw)
    except InvalidAddress as exc:
        return f"refused: {exc}"


def test_the_plain_ascii_shortcut_agrees_with_email_validator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Plain ASCII addresses skip email-validator: for each of thousands of generated ones, near
    and over every limit, the answer is the one email-validator gives."""
    rng = random.Random(7)
    pieces = ["a", "Z", "0", "-", ".", "_", "+", "'", "--", "xn--", "ab--", "é", "@", " ", "b" * 63]
    weights = [20, 10, 10, 5, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 2]
    tails = ["com", "VN", "c0m", "1", "x", "test", "local", "localhost", "onion", "arpa", "a-b"]
    hosts = ["example", "ex-ample", "-ex", "ex-", "e" * 63, "e" * 64, "sub.example", "a..b"]
    corpus = [
        "".join(rng.choices(pieces, weights, k=rng.randint(1, 6)))
        + "@"
        + ".".join(rng.choices(hosts, [9, 5, 1, 1, 2, 1, 3, 1], k=rng.randint(0, 3)))
        + "."
        + rng.choices(tails, [20, 10, 2, 2, 2, 1, 1, 1, 1, 1, 2])[0]
        for _ in range(3000)
    ]
    corpus += ["a" * 64 + "@example.com", "a" * 65 + "@example.com", f"a@{'e' * 63}.{'c' * 63}"]
    corpus += [f"a@{'.'.join(['e' * 60] * 4)}.com", "a@host.invalid", "an@home.arpa", "A@B.CO"]
    fast = {raw: _outcome(raw) for raw in corpus}
    monkeypatch.setattr(addresses, "_PLAIN", re.compile(r"(?!)"))  # every one to the library
    assert {raw: _outcome(raw) for raw in corpus} == fast
    assert sum(not v.startswith("refused") for v in fast.values()) > 500  # both kinds are tried
    assert sum(v.startswith("refused") for v in fast.values()) > 500
