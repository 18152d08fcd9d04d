"""Saved dynamic segments: a condition tree over contacts, validated strictly, and its meaning.

A definition arrives as JSON from staff (admin form or API), so it is hostile input: every key,
type, operator, length, depth and size is checked here before anything compiles it to SQL
(notifier/campaigns/segment_sql.py). `matches` is the same meaning in plain Python, one contact
at a time; the tests hold the SQL to it (tests/integration/campaigns/test_segments_equivalence.py).

Shape (nested groups, at most MAX_DEPTH deep, MAX_CONDITIONS conditions in all):
    {"match": "all" | "any", "items": [condition or group, ...]}
Conditions:
    {"field": "email" | "name" | "locale", "op": TEXT_OP, "value": str}
    {"field": "created_at", "op": ORDER_OP, "value": "YYYY-MM-DD"}            (UTC days)
    {"field": "attribute", "key": name, "type": "text" | "number" | "date", "op": ..., "value": ...}
    {"field": "tag", "op": "has" | "has_not", "value": tag}
    {"field": "consent", "key": purpose, "op": "is",
     "value": "granted" | "withdrawn" | "pending" | "none"}
    {"field": "received", "op": "received" | "not_received", "value": campaign id}

Comparisons are exact and case-sensitive (the same on SQLite and PostgreSQL). A comparison with
an attribute the contact lacks, or whose value is not of the condition's type, is false: "!="
means "set, and different". There is no NOT over a group, so a condition that cannot be decided
is simply false wherever it stands.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from notifier.domain.errors import ValidationFailed

MAX_DEPTH = 4  # the top group is depth 1
MAX_CONDITIONS = 40
MAX_ITEMS = 40  # per group
MAX_TEXT = 200
CONTACT_TEXT_FIELDS = ("email", "name", "locale")
FIELDS = (*CONTACT_TEXT_FIELDS, "created_at", "attribute", "tag", "consent", "received")
TYPES = ("text", "number", "date")
TEXT_OPS = ("eq", "ne", "contains", "starts_with", "is_set")
ORDER_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "is_set")
TAG_OPS = ("has", "has_not")
CONSENT_STATES = ("granted", "withdrawn", "pending", "none")
RECEIVED_OPS = ("received", "not_received")
MATCHES = ("all", "any")
KEY = re.compile(r"[A-Za-z0-9_]{1,64}")
TAG = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
# A number is what this pattern accepts and nothing else (no exponent, no spaces): the SQL
# tests the same shape before it casts, so a stray "abc" never breaks a count on PostgreSQL.
NUMBER = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,3})?")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Value = str | Decimal | date | int | None


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Value = None
    key: str = ""  # the attribute's name or the consent's purpose
    type: str = "text"  # an attribute's type; contact fields have their own

    @property
    def ops(self) -> tuple[str, ...]:
        return ops_for(self.field, self.type)


@dataclass(frozen=True)
class Group:
    match: str
    items: tuple[Group | Condition, ...] = field(default_factory=tuple)

    def conditions(self) -> list[Condition]:
        found: list[Condition] = []
        for item in self.items:
            found.extend(item.conditions() if isinstance(item, Group) else [item])
        return found

    def campaign_ids(self) -> set[int]:
        return {int(c.value) for c in self.conditions() if c.field == "received"}  # type: ignore[arg-type]


def ops_for(field_name: str, type_: str = "text") -> tuple[str, ...]:
    if field_name in CONTACT_TEXT_FIELDS:
        return TEXT_OPS
    if field_name == "created_at":
        return ORDER_OPS[:-1]  # every contact has one
    if field_name == "attribute":
        return TEXT_OPS if type_ == "text" else ORDER_OPS
    if field_name == "tag":
        return TAG_OPS
    if field_name == "consent":
        return ("is",)
    if field_name == "received":
        return RECEIVED_OPS
    return ()


class SegmentInvalid(ValidationFailed):
    """Each problem keyed by its place in the tree: "items.0.items.2.value"."""


def parse(data: Any, purposes: Collection[str]) -> Group:
    """A Group from JSON-shaped data, or SegmentInvalid naming every problem found."""
    errors: dict[str, str] = {}
    counter = [0]
    group = _group(data, "definition", 1, purposes, errors, counter)
    if counter[0] > MAX_CONDITIONS:
        errors["definition"] = f"at most {MAX_CONDITIONS} conditions"
    if errors or group is None:
        raise SegmentInvalid(errors or {"definition": "is not a group"})
    return group


def _group(
    data: Any,
    path: str,
    depth: int,
    purposes: Collection[str],
    errors: dict[str, str],
    counter: list[int],
) -> Group | None:
    if not isinstance(data, Mapping):
        errors[path] = "must be a group"
        return None
    if depth > MAX_DEPTH:
        errors[path] = f"groups nest at most {MAX_DEPTH} deep"
        return None
    extra = set(data) - {"match", "items"}
    if extra:
        errors[path] = f"unknown keys {', '.join(sorted(map(str, extra)))[:100]}"
        return None
    match, items = data.get("match"), data.get("items")
    if match not in MATCHES:
        errors[f"{path}.match"] = "must be all or any"
    if not isinstance(items, list) or not items:
        errors[f"{path}.items"] = "must be a non-empty list"
        return None
    if len(items) > MAX_ITEMS:
        errors[f"{path}.items"] = f"at most {MAX_ITEMS} in a group"
        return None
    parsed: list[Group | Condition] = []
    for index, item in enumerate(items):
        if counter[0] > MAX_CONDITIONS:
            break  # stop walking a huge tree early; the caller reports the limit
        here = f"{path}.items.{index}"
        sub: Group | Condition | None
        if isinstance(item, Mapping) and "items" in item:
            sub = _group(item, here, depth + 1, purposes, errors, counter)
        else:
            counter[0] += 1
            sub = _condition(item, here, purposes, errors)
        if sub is not None:
            parsed.append(sub)
    return Group(str(match), tuple(parsed))


def _condition(
    data: Any, path: str, purposes: Collection[str], errors: dict[str, str]
) -> Condition | None:
    if not isinstance(data, Mapping):
        errors[path] = "must be a condition"
        return None
    extra = set(data) - {"field", "op", "value", "key", "type"}
    if extra:
        errors[path] = f"unknown keys {', '.join(sorted(map(str, extra)))[:100]}"
        return None
    name, op, raw = data.get("field"), data.get("op"), data.get("value")
    key, type_ = data.get("key", ""), data.get("type", "text")
    if name not in FIELDS:
        errors[f"{path}.field"] = f"one of {', '.join(FIELDS)}"
        return None
    if name == "attribute":
        if type_ not in TYPES:
            errors[f"{path}.type"] = f"one of {', '.join(TYPES)}"
            return None
        if not isinstance(key, str) or not KEY.fullmatch(key):
            errors[f"{path}.key"] = "letters, digits and _ only, at most 64"
            return None
    elif name == "consent":
        if key not in purposes:
            errors[f"{path}.key"] = "no such purpose"
            return None
    elif key not in ("", None):
        errors[f"{path}.key"] = "not used with this field"
        return None
    ops = ops_for(str(name), str(type_))
    if op not in ops:
        errors[f"{path}.op"] = f"one of {', '.join(ops)}"
        return None
    kind = {"created_at": "date", "attribute": type_}.get(str(name), "text")
    try:
        value = _value(str(name), str(op), str(kind), raw)
    except ValueError as exc:
        errors[f"{path}.value"] = str(exc)
        return None
    type_name = str(type_ if name == "attribute" else kind)
    return Condition(str(name), str(op), value, str(key or ""), type_name)


def _value(name: str, op: str, kind: str, raw: Any) -> Value:
    if op == "is_set":
        if raw not in (None, ""):
            raise ValueError("is set takes no value")
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ValueError("must be text or a whole number")
    text = str(raw)
    if len(text) > MAX_TEXT:
        raise ValueError(f"at most {MAX_TEXT} characters")
    if name == "received":
        if not text.isascii() or not text.isdigit() or len(text) > 12:
            raise ValueError("must be a campaign number")
        return int(text)
    if name == "consent":
        if text not in CONSENT_STATES:
            raise ValueError(f"one of {', '.join(CONSENT_STATES)}")
        return text
    if name == "tag":
        if not TAG.fullmatch(text):
            raise ValueError("a tag of 1 to 64 printable characters")
        return text
    if kind == "number":
        if not NUMBER.fullmatch(text):
            raise ValueError("a number such as 12 or -3.5 (at most 12 digits, 3 decimals)")
        return Decimal(text)
    if kind == "date":
        return _date(text)
    if not text:
        raise ValueError("is required")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("no control characters")
    return text


def _date(text: str) -> date:
    if not DATE.fullmatch(text):
        raise ValueError("a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("no such date") from None


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def next_day_start(day: date) -> datetime:
    return day_start(day) + timedelta(days=1)


def to_json(group: Group) -> dict[str, Any]:
    """The stored form: what parse accepts, with values as text."""
    return {"match": group.match, "items": [_item_json(item) for item in group.items]}


def _item_json(item: Group | Condition) -> dict[str, Any]:
    if isinstance(item, Group):
        return to_json(item)
    data: dict[str, Any] = {"field": item.field, "op": item.op}
    if item.field == "attribute":
        data["type"] = item.type
    if item.key:
        data["key"] = item.key
    if item.value is not None:
        data["value"] = item.value.isoformat() if isinstance(item.value, date) else str(item.value)
    return data


# ---- the meaning in plain Python, one contact at a time ------------------------------------


@dataclass(frozen=True)
class ContactFacts:
    """What a segment reads of one contact; `consents` maps purpose to its status row."""

    email: str | None
    name: str
    locale: str
    created_at: datetime
    attributes: Mapping[str, Any]
    tags: frozenset[str]
    consents: Mapping[str, str]
    received: frozenset[int]  # campaigns with a SENT delivery to this contact


def matches(group: Group, facts: ContactFacts) -> bool:
    results = (
        matches(item, facts) if isinstance(item, Group) else holds(item, facts)
        for item in group.items
    )
    return all(results) if group.match == "all" else any(results)


def attribute_text(value: Any) -> str | None:
    """An attribute as the SQL reads it: JSON text as is, numbers written out, else absent."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


def holds(c: Condition, facts: ContactFacts) -> bool:
    if c.field == "tag":
        return (c.value in facts.tags) == (c.op == "has")
    if c.field == "consent":
        return consent_state(facts.consents.get(c.key)) == c.value
    if c.field == "received":
        return (c.value in facts.received) == (c.op == "received")
    if c.field == "created_at":
        assert isinstance(c.value, date)
        return _ordered_time(c.op, facts.created_at, c.value)
    if c.field == "attribute":
        text = attribute_text(facts.attributes.get(c.key))
    else:
        text = getattr(facts, c.field)
    if c.op == "is_set":
        return bool(text)
    if text is None:
        return False
    if c.type == "number":
        if not NUMBER.fullmatch(text):
            return False
        return _ordered(c.op, Decimal(text), c.value)
    if c.type == "date":
        if not DATE.fullmatch(text):
            return False
        # ISO dates order as text; the SQL compares the text too, so "2026-02-30" simply sorts.
        assert isinstance(c.value, date)
        return _ordered(c.op, text, c.value.isoformat())
    assert isinstance(c.value, str)
    if c.op == "eq":
        return text == c.value
    if c.op == "ne":
        return text != c.value
    if c.op == "contains":
        return c.value in text
    return text.startswith(c.value)  # starts_with


def consent_state(status: str | None) -> str:
    """A purpose's consent row read as one of CONSENT_STATES; no row (or any other) is none."""
    return status if status in CONSENT_STATES[:-1] else "none"


# One meaning of each comparison, for Python values here and for SQL columns in
# campaigns/segment_sql.py (SQLAlchemy overloads the same operators); only the one asked for is
# evaluated.
COMPARISONS: Mapping[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _ordered(op: str, left: Any, right: Any) -> bool:
    return bool(COMPARISONS[op](left, right))


def _ordered_time(op: str, moment: datetime, day: date) -> bool:
    start, end = day_start(day), next_day_start(day)
    return {
        "eq": start <= moment < end,
        "ne": not start <= moment < end,
        "lt": moment < start,
        "le": moment < end,
        "gt": moment >= end,
        "ge": moment >= start,
    }[op]
