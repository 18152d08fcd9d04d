"""Path segments that no route can mean: refused before any view runs.

No stored key, external id or token holds a control character, and PostgreSQL refuses NUL in
text outright (a DataError, so a 500), so a segment with one is 404 for every blueprint: the
API answers with its own problem body, the pages with theirs.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort


def _refuse_control_characters(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and any(isinstance(v, str) and not v.isprintable() for v in values.values()):
        abort(404)


def init_paths(app: Flask) -> None:
    app.url_value_preprocessor(_refuse_control_characters)
