"""Read a JSON body safely and check it against the OpenAPI schemas, naming every bad field."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Any

from flask import current_app, request
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from notifier.api.problems import ApiProblem, invalid
from notifier.domain.addresses import InvalidAddress, normalise_email

BASE = "urn:notifier:api-v1"
MAX_DEPTH = 16
DEFAULT_MAX_BODY = 256 * 1024
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})$"
)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
FORMATS = FormatChecker(formats=())


@FORMATS.checks("email", raises=InvalidAddress)
def _email(value: object) -> bool:
    if isinstance(value, str):
        normalise_email(value)
    return True


@FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    if isinstance(value, str):
        if not _DATE.match(value):
            raise ValueError("use YYYY-MM-DD")
        date.fromisoformat(value)
    return True


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if isinstance(value, str):
        parse_date_time(value)
    return True


@FORMATS.checks("ipv4", raises=ValueError)
def _ipv4(value: object) -> bool:
    return not isinstance(value, str) or bool(ipaddress.IPv4Address(value))


@FORMATS.checks("ipv6", raises=ValueError)
def _ipv6(value: object) -> bool:
    return not isinstance(value, str) or bool(ipaddress.IPv6Address(value))


def parse_date_time(value: str) -> datetime:
    """RFC 3339 with its offset: a time without a zone is ambiguous and refused."""
    if not _DATE_TIME.match(value):
        raise ValueError("use RFC 3339 with an offset, e.g. 2026-05-01T09:00:00+07:00")
    return datetime.fromisoformat(value.replace("z", "Z"))


@cache
def _validator(name: str) -> Draft202012Validator:
    from notifier.api.openapi import document

    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource(BASE, resource)
    schema = {"$ref": f"{BASE}#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry, format_checker=FORMATS)


def schema_errors(name: str, instance: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in _validator(name).iter_errors(instance):
        for field, detail in _describe(error):
            errors.setdefault(field, detail)
    return errors


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    path = field_path(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [n for n in error.validator_value if n not in instance]
        return [(join(path, name), "is required") for name in missing]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        return [(join(path, name), "unknown field") for name in instance if name not in known]
    if error.validator == "format" and error.cause is not None:
        return [(path or "body", _short(str(error.cause)))]
    if error.validator == "anyOf" and error.schema.get("anyOf") == [
        {"required": ["ip"]},
        {"required": ["staff_ref"]},
    ]:
        return [(path, "needs the person's ip or a staff_ref")]
    if error.validator == "anyOf" and error.context:
        # "not null" says little about a malformed date: prefer what the value got wrong.
        specific = [e for e in error.context if e.validator != "type"] or error.context
        return _describe(best_match(specific))
    if error.validator == "pattern":
        return [(path or "body", "contains control characters or characters not allowed here")]
    return [(path or "body", _short(error.message))]


def field_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


def read_json(
    schema: str, optional: bool = False, also: Callable[[Any], dict[str, str]] | None = None
) -> Any:
    """The body as JSON, checked against a named schema; ApiProblem for anything else."""
    raw = request.get_data(cache=True)
    if not raw and optional:
        body: Any = {}
    else:
        if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
            raise ApiProblem(415, "send the body as application/json")
        body = _parse(raw)
    errors = hostile_strings(body) or schema_errors(schema, body)
    if also is not None and isinstance(body, dict) and not hostile_strings(body):
        # The service's own rules, on the fields whose shape the schema accepted.
        sound = {k: v for k, v in body.items() if not any(_within(k, e) for e in errors)}
        errors = {**also(sound), **errors}
    if errors:
        raise invalid(errors)
    return body


def _within(field: str, error_path: str) -> bool:
    return error_path == field or error_path.startswith((f"{field}.", f"{field}["))


def _parse(raw: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(raw, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        raise ApiProblem(400, f"the body is not valid JSON: {_short(str(exc))}") from None


def hostile_strings(value: Any, path: str = "", depth: int = 0) -> dict[str, str]:
    """NUL and lone surrogates break PostgreSQL and UTF-8; deep nesting breaks recursion."""
    if depth > MAX_DEPTH:
        return {path or "body": f"nested deeper than {MAX_DEPTH} levels"}
    errors: dict[str, str] = {}
    if isinstance(value, str):
        if _unstorable(value):
            errors[path or "body"] = "contains a NUL character or an unpaired surrogate"
    elif isinstance(value, dict):
        for key, item in value.items():
            if _unstorable(key):
                errors[path or "body"] = "a field name contains a NUL or an unpaired surrogate"
                continue
            errors.update(hostile_strings(item, join(path, key), depth + 1))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.update(hostile_strings(item, f"{path}[{index}]", depth + 1))
    return errors


def _unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def max_body_bytes() -> int:
    return int(current_app.config.get("API_MAX_BODY_BYTES", DEFAULT_MAX_BODY))
