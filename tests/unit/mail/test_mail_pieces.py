"""Quoted-printable in pieces: constants encoded once must decode to exactly the joined text."""

from __future__ import annotations

import quopri

import pytest

from notifier.mail.body import QuotedPrintablePieces, encode_text

LONG = '<td style="padding:0 32px;font-family:Arial">' + "x" * 300 + "</td>\n"
CONSTANTS = [
    "<html><body>\n<p>Xin chào ",
    ", ưu đãi " + LONG + "dòng cuối có dấu cách ",
    '\n.dòng bắt đầu bằng dấu chấm\n<a href="',
    '">link</a>' + LONG * 3,
]
VALUES = [
    ["Lan", " trailing space ", "https://x.example/u/AbC-_123"],
    ["=3D not an escape", "tab\there", "https://x.example/u/" + "y" * 200],
    ["", "", ""],
    ["Nguyễn Thị Hồng Nhung " * 10, "a\nb", "https://x.example/p/Z"],
]


def decoded(body: bytes) -> str:
    return quopri.decodestring(body).decode("utf-8").replace("\r\n", "\n")


def joined(values: list[str]) -> str:
    out = CONSTANTS[0]
    for value, constant in zip(values, CONSTANTS[1:], strict=True):
        out += value + constant
    return out


@pytest.mark.parametrize("values", VALUES)
def test_pieces_decode_to_the_joined_text(values: list[str]) -> None:
    encoded = QuotedPrintablePieces(CONSTANTS).encode(values)
    assert encoded is not None and encoded.encoding == b"quoted-printable"
    assert decoded(encoded.body) == joined(values)
    assert decoded(encode_text(joined(values))[1]) == joined(
        values
    )  # the whole-text encoder agrees


@pytest.mark.parametrize("values", VALUES)
def test_every_line_is_short_crlf_and_without_trailing_space(values: list[str]) -> None:
    body = QuotedPrintablePieces(CONSTANTS).encode(values).body  # type: ignore[union-attr]
    lines = body.split(b"\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert all(len(line) <= 76 for line in lines)
    assert not any(line.endswith((b" ", b"\t")) for line in lines)
    assert not body.endswith(b"=\r\n")


def test_a_carriage_return_in_a_value_is_left_to_the_whole_text_encoder() -> None:
    assert QuotedPrintablePieces(CONSTANTS).encode(["a\r\nb", "", ""]) is None


def test_the_number_of_values_must_fit_the_constants() -> None:
    with pytest.raises(ValueError, match="between"):
        QuotedPrintablePieces(CONSTANTS).encode(["only one"])
