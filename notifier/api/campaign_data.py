"""A campaign's `data`: values for its template, lists and objects allowed (the event layout's
`agenda` is a list of objects), within limits that the document states and the server applies
from the same constants: nesting depth, items per list, keys per object, the characters of a
key, and for text the one-line rule of every other value. The body's size is the API's body
limit (413), which bounds the whole tree."""

from __future__ import annotations

import re
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from notifier.api.notice_data import NAME, SCALAR_SCHEMA, _is_scalar

# `data` itself is level 1; a list or object inside it is level 2, and so on.
MAX_DEPTH = 4
MAX_KEYS = 50  # per object, `data` included
MAX_ITEMS = 100  # per list
KEY_LENGTH = 64
_NAME = re.compile(NAME)
KEY_SCHEMA = {"maxLength": KEY_LENGTH, "pattern": NAME}


def value_schema(level: int) -> dict[str, Any]:
    """A value at `level` (its container's level): containers only while depth allows."""
    if level >= MAX_DEPTH:
        return dict(SCALAR_SCHEMA)
    inner = value_schema(level + 1)
    return {
        "anyOf": [
            *SCALAR_SCHEMA["anyOf"],
            {"type": "array", "maxItems": MAX_ITEMS, "items": inner},
            {
                "type": "object",
                "maxProperties": MAX_KEYS,
                "propertyNames": KEY_SCHEMA,
                "additionalProperties": inner,
            },
        ]
    }


def _fail(path: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("notifier", "{path}{message}", {"path": path, "message": message})


def _check(value: Any, level: int, path: str) -> None:
    if isinstance(value, list):
        if level >= MAX_DEPTH:
            raise _fail(path, f": lists and objects nest {MAX_DEPTH} levels deep at most")
        if len(value) > MAX_ITEMS:
            raise _fail(path, f": {MAX_ITEMS} items at most")
        for index, item in enumerate(value):
            _check(item, level + 1, f"{path}[{index}]")
    elif isinstance(value, dict):
        if level >= MAX_DEPTH:
            raise _fail(path, f": lists and objects nest {MAX_DEPTH} levels deep at most")
        _check_keys(value, path)
        for key, item in value.items():
            _check(item, level + 1, f"{path}.{key}")
    elif not _is_scalar(value):
        raise _fail(path, ": must be text on one line (500 at most), a number, true/false or null")


def _check_keys(value: dict[Any, Any], path: str) -> None:
    if len(value) > MAX_KEYS:
        raise _fail(path, f": {MAX_KEYS} keys at most")
    for key in value:
        if not isinstance(key, str) or len(key) > KEY_LENGTH or not _NAME.match(key):
            shown = str(key)[:70]
            raise _fail(path, f": key {shown!r} must be letters, digits, . _ - (64 at most)")


class CampaignData:
    """The whole `data` object, checked in one pass so each error names its path."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_plain_validator_function(self._validate)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        return {
            "type": "object",
            "maxProperties": MAX_KEYS,
            "propertyNames": KEY_SCHEMA,
            "additionalProperties": value_schema(1),
            "description": f"Values for the template; lists and objects nest {MAX_DEPTH} levels "
            f"deep at most (data itself is the first), {MAX_ITEMS} items per list, {MAX_KEYS} "
            "keys per object.",
        }

    @staticmethod
    def _validate(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise PydanticCustomError("notifier", "must be an object")
        _check_keys(value, "")
        for key, item in value.items():
            _check(item, 1, key)
        return value
