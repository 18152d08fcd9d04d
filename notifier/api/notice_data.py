"""A notice's `data`: values for its type's template, checked and documented from one table.

The fields a type needs are read from its template (notifier/notices/types.data_fields): a field
the template prints is required and not null, a field shown with `|date` must be a date, with
`|money` or `|number` a number. KINDS states each rule once, as a check and as JSON Schema; the
document's variant for each notice type and the check of a request are both built from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError, core_schema

from notifier.api.fields import DATE, DATE_TIME, LINE, NUMERIC_TEXT, KeyedValues
from notifier.notices import types
from notifier.notices.types import DataFields
from notifier.notices.views import active_data_fields

MAX_TEXT = 500
NAME = r"^[\w.-]+$"
_LINE = re.compile(LINE)
TEXT_SCHEMA = {"type": "string", "maxLength": MAX_TEXT, "pattern": LINE}
NOT_NULL = [TEXT_SCHEMA, {"type": "number"}, {"type": "boolean"}]
SCALAR_SCHEMA = {"anyOf": [*NOT_NULL, {"type": "null"}]}


def _is_scalar(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TEXT and _LINE.match(value) is not None
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, bool | int)


def _is_moment(value: object) -> bool:
    return isinstance(value, str) and bool(re.match(DATE, value) or re.match(DATE_TIME, value))


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    return isinstance(value, str) and re.match(NUMERIC_TEXT, value) is not None


@dataclass(frozen=True)
class Kind:
    check: Callable[[object], bool]
    schema: dict[str, Any]
    detail: str


MOMENT = {
    "anyOf": [
        {"type": "string", "format": "date", "pattern": DATE},
        {"type": "string", "format": "date-time", "pattern": DATE_TIME},
    ]
}
NUMBER = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMERIC_TEXT}]}
# The template filters that say what kind of value a field must hold.
KINDS = {
    "date": Kind(_is_moment, MOMENT, "must be a date, YYYY-MM-DD (or an RFC 3339 date-time)"),
    "time": Kind(_is_moment, MOMENT, "must be an RFC 3339 date-time (or a date, YYYY-MM-DD)"),
    "money": Kind(_is_number, NUMBER, "must be a number (or digits as text)"),
    "number": Kind(_is_number, NUMBER, "must be a number (or digits as text)"),
}


assert set(KINDS) == types.KINDS  # every filter the template reader picks out has its rule here


class ScalarValue:
    """Text on one line (500 characters at most), a finite number, true/false or null."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_plain_validator_function(self._validate)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        return dict(SCALAR_SCHEMA)

    @staticmethod
    def _validate(value: Any) -> Any:
        if not _is_scalar(value):
            raise PydanticCustomError(
                "notifier", "must be text on one line (500 at most), a number, true/false or null"
            )
        return value


DATA = ScalarValue()


def _field_problems(fields: DataFields, data: dict[str, Any]) -> dict[str, str]:
    kinds = dict(fields.kinds)
    problems: dict[str, str] = {}
    for name in sorted(fields.required | fields.optional):
        value = data.get(name)
        if name in fields.required and name not in data:
            problems[name] = "is required by this notice type's template"
        elif name in fields.required and value is None:
            problems[name] = "must not be null: this notice type's template prints it"
        elif value is not None and name in kinds and not KINDS[kinds[name]].check(value):
            problems[name] = KINDS[kinds[name]].detail
    return problems


def _field_schema(fields: DataFields, name: str) -> dict[str, Any]:
    kind = dict(fields.kinds).get(name)
    values = KINDS[kind].schema["anyOf"] if kind else NOT_NULL
    nullable = [] if name in fields.required else [{"type": "null"}]
    return {"anyOf": [*values, *nullable]}


def data_schema(fields: DataFields) -> dict[str, Any]:
    """The JSON Schema of `data` for one notice type: the same rules as _field_problems."""
    schema: dict[str, Any] = {
        "type": "object",
        "maxProperties": 100,
        "propertyNames": {"maxLength": 64, "pattern": NAME},
        "additionalProperties": SCALAR_SCHEMA,
        "properties": {
            name: _field_schema(fields, name) for name in sorted(fields.required | fields.optional)
        },
        "description": "Values for this type's template.",
    }
    if fields.required:
        schema["required"] = sorted(fields.required)
    return schema


def data_schemas() -> dict[str, dict[str, Any]]:
    return {key: data_schema(fields) for key, fields in active_data_fields().items()}


class ForNoticeType:
    """After the generic checks, `data` is checked against what its notice type needs."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.with_info_after_validator_function(self._validate, handler(source))

    @staticmethod
    def _validate(data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        type_key = info.data.get("type")
        fields = active_data_fields().get(type_key) if isinstance(type_key, str) else None
        if fields is None:
            return data  # the type is unknown, and named as such
        problems = _field_problems(fields, data)
        if problems:
            errors = [
                InitErrorDetails(
                    type=PydanticCustomError("notifier", detail),
                    loc=(name,),
                    input=data.get(name),
                )
                for name, detail in problems.items()
            ]
            raise ValidationError.from_exception_data("data", errors)
        return data


NoticeData = Annotated[
    dict[Annotated[str, Field(max_length=64, pattern=NAME)], Annotated[Any, DATA]],
    Field(max_length=100, description="Values for the template: service_name, expires_on, ..."),
    KeyedValues(),
    ForNoticeType(),
]
