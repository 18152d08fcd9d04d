"""Header limits as truth tables: RFC 5321/5322 lengths, folding at 78/998, encoded-words."""

from __future__ import annotations

import base64
import itertools
import re

import pytest

from notifier.mail.headers import (
    InvalidAddressError,
    InvalidHeaderError,
    check_address,
    check_field_name,
    check_verbatim,
    clean_text,
    encoded_words,
    list_id,
    mailbox,
    unstructured,
)

WORD = re.compile(r"=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=")


def domain_of(length: int) -> str:
    """A valid domain name of exactly `length` characters (labels of at most 63)."""
    labels, left = [], length
    while left > 0:
        size = min(63, left if left <= 63 else left - 2)
        labels.append("d" * size)
        left -= size + 1
    return ".".join(labels)


@pytest.mark.parametrize(
    ("local", "domain", "ok"),
    [
        ("a" * 64, "example.vn", True),  # RFC 5321: local part up to 64
        ("a" * 65, "example.vn", False),
        ("a" * 64, domain_of(189), True),  # 254 in all: the longest usable address
        ("a" * 64, domain_of(190), False),  # 255
        ("a", domain_of(252), True),
        ("lan", "example", True),
        ("lan", "-bad.example", False),
    ],
)
def test_address_lengths(local: str, domain: str, ok: bool) -> None:
    address = f"{local}@{domain}"
    if ok:
        assert check_address(address) == address
    else:
        with pytest.raises(InvalidAddressError, match=r"^invalid email address: '"):
            check_address(address)


@pytest.mark.parametrize(
    "address", ["a@b@example.vn", "lan@example.vn\r\nBcc: x@evil.example", "lan <x>@example.vn"]
)
def test_addresses_that_could_inject_are_refused(address: str) -> None:
    with pytest.raises(InvalidAddressError, match=re.escape(repr(address))):
        check_address(address)


@pytest.mark.parametrize(("length", "ok"), [(0, True), (918, True), (919, False)])
def test_verbatim_values_fit_one_line(length: int, ok: bool) -> None:
    value = "x" * length
    if ok:
        assert check_verbatim(value, "URL") == value
    else:
        with pytest.raises(InvalidHeaderError, match=r"^unsafe URL: 'xxx"):
            check_verbatim(value, "URL")


@pytest.mark.parametrize(("name", "ok"), [("X" * 76, True), ("X" * 77, False), ("A:B", False)])
def test_field_names(name: str, ok: bool) -> None:
    if ok:
        assert check_field_name(name) == name
    else:
        with pytest.raises(InvalidHeaderError, match=r"^invalid header name: '"):
            check_field_name(name)


def test_controls_become_single_spaces() -> None:
    assert clean_text("a\r\nb\x00c\u2028d") == "a  b c d"


def decode(words: list[str]) -> bytes:
    return b"".join(base64.b64decode(WORD.fullmatch(w)[1]) for w in words)  # type: ignore[index]


@pytest.mark.parametrize("char", ["a", "é", "ệ", "𝄞"])  # 1, 2, 3 and 4 UTF-8 bytes
@pytest.mark.parametrize("count", [1, 13, 14, 15, 41, 42, 43, 100])
@pytest.mark.parametrize("lead", ["", "x", "xy"])
def test_encoded_words_never_split_a_character(char: str, count: int, lead: str) -> None:
    text = lead + char * count
    words = encoded_words(text)
    assert decode(words).decode("utf-8") == text
    for word in words:
        raw = decode([word])
        assert 0 < len(raw) <= 42
        raw.decode("utf-8")  # each word is whole characters on its own
    assert len(words) == -(-len(text.encode()) // 42) or char != "a"


def test_encoded_words_of_an_unpaired_surrogate() -> None:
    assert decode(encoded_words("a\ud800b")) == b"a?b"
    assert encoded_words("") == []


def unfold(line: bytes) -> str:
    return line.decode("ascii").removesuffix("\r\n").replace("\r\n", "")


@pytest.mark.parametrize("words", [1, 5, 12, 13, 14, 30, 80])
@pytest.mark.parametrize("size", [1, 4, 6, 9])
def test_long_ascii_subjects_fold_near_78_and_read_the_same(words: int, size: int) -> None:
    text = " ".join(f"{n:0{size}d}" for n in range(words))
    line = unstructured("Subject", text)
    assert b"=?" not in line  # plain ASCII stays readable, folded rather than encoded
    assert unfold(line) == "Subject: " + text
    lines = line.decode("ascii").removesuffix("\r\n").split("\r\n")
    assert all(len(one) <= 78 for one in lines)
    # Greedy: a line breaks only where the next word would not fit.
    for current, following in itertools.pairwise(lines):
        assert len(current) + len(following.split(" ")[1]) + 1 > 78


def test_a_subject_of_exactly_78_is_one_line() -> None:
    text = "x" * 30 + " " + "y" * 38
    assert unstructured("Subject", text) == f"Subject: {text}\r\n".encode()


def test_spaces_inside_a_subject_survive_folding() -> None:
    text = "Uu dai" + "  x" * 40
    assert unfold(unstructured("Subject", text)) == "Subject: " + text


@pytest.mark.parametrize(("length", "encoded"), [(989, False), (990, True)])
def test_one_word_up_to_998_stays_ascii(length: int, encoded: bool) -> None:
    line = unstructured("Subject", "x" * length)
    assert (b"=?utf-8?b?" in line) is encoded
    if not encoded:
        assert line == b"Subject: " + b"x" * length + b"\r\n"


def test_text_that_looks_like_an_encoded_word_is_encoded() -> None:
    line = unstructured("Subject", "=?utf-8?b?SGk=?=")
    assert line.startswith(b"Subject: =?utf-8?b?") and b"SGk=?=\r\n" not in line


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Lan", '"Lan" <lan@example.vn>'),
        ('Tr"an \\ Lan', '"Tr\\"an \\\\ Lan" <lan@example.vn>'),
        ("x" * 60, '"' + "x" * 60 + '" <lan@example.vn>'),
        (None, "lan@example.vn"),
        ("  ", "lan@example.vn"),
    ],
)
def test_mailbox_quotes_short_ascii_names(name: str | None, expected: str) -> None:
    assert mailbox(name, "lan@example.vn") == expected


@pytest.mark.parametrize("name", ["x" * 61, "Trần Lan", "=?utf-8?b?SGk=?="])
def test_other_names_become_encoded_words(name: str) -> None:
    value = mailbox(name, "lan@example.vn")
    words, _, address = value.rpartition(" <")
    assert address == "lan@example.vn>"
    assert decode(words.split("\r\n ")).decode() == name


def test_a_long_name_folds_between_its_encoded_words() -> None:
    words = mailbox("Nguyễn " * 12, "a@example.vn").removesuffix(" <a@example.vn>")
    assert words.count("\r\n ") == len(WORD.findall(words)) - 1 >= 1


@pytest.mark.parametrize("identifier", ["a b.example", "a<b.example", "a>b.example"])
def test_list_ids_with_delimiters_are_refused(identifier: str) -> None:
    with pytest.raises(InvalidHeaderError, match=r"^unsafe List-Id: '"):
        list_id(identifier, None)


def test_list_id_forms() -> None:
    assert list_id("promotions.example.vn", None) == "<promotions.example.vn>"
    assert list_id("p.example.vn", "Khuyến mãi").endswith("?= <p.example.vn>")
    with pytest.raises(InvalidHeaderError, match=r"^unsafe List-Id: 'x\\n'"):
        list_id("x\n", "d")
