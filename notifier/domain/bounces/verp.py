"""Which message a signed VERP return path names: a campaign delivery or a notice."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple

from notifier.domain.tokens import InvalidToken, parse_verp


class TargetKind(StrEnum):
    DELIVERY = "delivery"
    NOTICE = "notice"


class Target(NamedTuple):
    kind: TargetKind
    id: int


def parse_return_path(keys: Mapping[TargetKind, bytes], address: str | None) -> Target | None:
    """Each kind signs with its own key, so a delivery's address can never name a notice."""
    if not address:
        return None
    bare = address.strip().strip("<>").strip()
    for kind, key in keys.items():
        try:
            return Target(kind, parse_verp(key, bare))
        except InvalidToken:
            continue
    return None
