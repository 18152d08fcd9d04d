"""Read a request body safely: the size, media type and JSON checks that come before any schema.

What the body must contain is the pydantic models' business (notifier/api/schemas.py); this only
refuses what no schema can describe: a body that is not JSON (400), not application/json (415),
nested beyond recursion, or holding text PostgreSQL and UTF-8 cannot store.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from notifier.api.problems import ApiProblem
from notifier.infra.context import settings

MAX_DEPTH = 16
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def read_body(optional: bool = False) -> Any:
    """The body as JSON ({} when empty and optional); ApiProblem for anything else."""
    raw = request.get_data(cache=True)
    if not raw and optional:
        return {}
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiProblem(415, "send the body as application/json")
    return _parse(raw)


def _parse(raw: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(raw, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        raise ApiProblem(400, f"the body is not valid JSON: {_short(str(exc))}") from None


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def hostile_strings(value: Any, path: str = "", depth: int = 0) -> dict[str, str]:
    """NUL and lone surrogates break PostgreSQL and UTF-8; deep nesting breaks recursion."""
    if depth > MAX_DEPTH:
        return {path or "body": f"nested deeper than {MAX_DEPTH} levels"}
    errors: dict[str, str] = {}
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            errors[path or "body"] = "contains a NUL character or an unpaired surrogate"
    elif isinstance(value, dict):
        for key, item in value.items():
            if _UNSTORABLE.search(key):
                errors[path or "body"] = "a field name contains a NUL or an unpaired surrogate"
                continue
            errors.update(hostile_strings(item, _join(path, key), depth + 1))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.update(hostile_strings(item, f"{path}[{index}]", depth + 1))
    return errors


def may_be_hostile(raw: bytes) -> bool:
    """Whether hostile_strings could find anything in the value of this JSON text: a NUL or a
    lone surrogate only comes from a \\u escape, a UTF-16/32 text (NUL bytes) or a surrogate
    encoded in UTF-8 (0xED first: json.loads decodes with surrogatepass), and nesting deeper than
    MAX_DEPTH takes more than MAX_DEPTH brackets. False lets a bulk row skip the walk."""
    if b"\\u" in raw or b"\x00" in raw or b"\xed" in raw:
        return True
    return raw.count(b"{") + raw.count(b"[") > MAX_DEPTH


def max_body_bytes() -> int:
    return settings().API_MAX_BODY_BYTES


def max_bulk_rows() -> int:
    return settings().API_MAX_BULK_ROWS


def max_bulk_bytes() -> int:
    """The NDJSON bulk endpoints read their bodies as streamed, line by line: a larger limit."""
    return settings().API_MAX_BULK_BYTES
