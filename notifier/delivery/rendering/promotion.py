"""Finds promotion blocks, which a service notice may not carry (Decree 91/2020 Art 3(1)).

A promotion block is either
- marked: an MJML or HTML element whose ``css-class`` or ``class`` contains the word ``promotion``
  (the built-in promotion layout marks its offer section this way; staff should do the same), or
- worded: one of a few vi/en sales phrases, matched without case or Vietnamese accents, in the
  subject, body or text: khuyến mãi, giảm giá, ưu đãi, mã giảm, voucher, coupon, discount,
  promo code, sale off, flash sale, "20% off", "giảm 20%".
Wording that only arrives through data at render time is not seen; the marker is the reliable way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from notifier.delivery.rendering.errors import Part, TemplateError

PROMOTION_CLASS = "promotion"
_CLASS = re.compile(r"""\bclass\s*=\s*(["'])(.*?)\1""", re.S | re.I)
_WORDING = re.compile(
    r"\b(?:khuyen mai|giam gia|uu dai|ma giam|voucher|coupon|discount|promo code|sale off"
    r"|flash sale)\b|\b\d+\s*%\s*off\b|\bgiam\s*\d+\s*%",
    re.I,
)


def _fold(text: str) -> str:
    # Staff write "giảm giá", "Giảm Giá" or "giam gia": compare without accents, one character for
    # one, so offsets in the folded text point into the (NFC) original.
    bare = "".join(unicodedata.normalize("NFD", c)[0] for c in text)
    return bare.replace("đ", "d").replace("Đ", "D")


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def refuse_promotion(parts: Mapping[Part, str]) -> None:
    """Raise TemplateError at the first promotion block found in a service template's parts."""
    body = parts.get(Part.BODY, "")
    for match in _CLASS.finditer(body):
        if PROMOTION_CLASS in match[2].split():
            raise TemplateError(
                Part.BODY,
                _line(body, match.start()),
                'a service notice cannot carry a promotion block (class "promotion")',
            )
    for part, text in parts.items():
        text = unicodedata.normalize("NFC", text)
        found = _WORDING.search(_fold(text))
        if found:
            raise TemplateError(
                part,
                _line(text, found.start()),
                f"a service notice cannot carry promotion wording ({text[slice(*found.span())]!r})",
            )
