"""Opaque, signed cursors for the API's lists.

A cursor holds the id of the last item a page showed and a digest of the filters that page
used, signed with SECRET_KEY under the list's own name. A client can neither forge one (to
start from an id it picked), nor move one to another list or other filters: each of those is a
422 naming `cursor`. Lists are ordered by id, so rows inserted meanwhile never shift a page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from itsdangerous import BadData, URLSafeSerializer

from notifier.api.problems import invalid
from notifier.infra.context import token_secret

T = TypeVar("T")
_SALT = "notifier.api-cursor."


def _signer(listing: str) -> URLSafeSerializer:
    return URLSafeSerializer(token_secret(), salt=_SALT + listing)


def _digest(filters: Mapping[str, Any]) -> str:
    given = {k: v for k, v in filters.items() if v not in (None, "")}
    return hashlib.sha256(json.dumps(given, sort_keys=True, default=str).encode()).hexdigest()[:16]


def after_id(listing: str, cursor: str | None, filters: Mapping[str, Any]) -> int:
    """The id a cursor continues after (0 without one); 422 for any cursor not ours."""
    if cursor is None:
        return 0
    try:
        last, digest = _signer(listing).loads(cursor)
    except (BadData, TypeError, ValueError):
        raise invalid({"cursor": "is not a cursor this list gave out"}) from None
    if digest != _digest(filters):
        raise invalid({"cursor": "was given out for other filters: start again without it"})
    if not isinstance(last, int) or isinstance(last, bool) or last < 0:
        raise invalid({"cursor": "is not a cursor this list gave out"})
    return last


def page(
    listing: str,
    rows: Sequence[T],
    limit: int,
    filters: Mapping[str, Any],
    id_of: Callable[[T], int],
) -> tuple[Sequence[T], str | None]:
    """`rows` were read with limit + 1: the extra one only tells that a next page exists."""
    shown = rows[:limit]
    if len(rows) <= limit or not shown:
        return shown, None
    return shown, _signer(listing).dumps([id_of(shown[-1]), _digest(filters)])
