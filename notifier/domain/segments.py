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
    {"field": "opened" | "clicked", "op": "within" | "not_within", "value": days, 1..MAX_DAYS}
    {"field": "last_campaigns", "op": "none_opened", "value": N, 1..MAX_LAST}
    {"field": "subscription", "key": "" (any kind) or a kind (domain/subscriptions.KINDS),
     "op": "expires_within" | "expired_within", "value": days, 1..MAX_DAYS}
    {"field": "subscription", "key": ..., "op": "active"}

Engagement reads only people's events (tracking flags 0), never a scanner's or Apple's proxy's,
and a click counts as an open: whoever followed a link opened the message, pixel or not.
"opened/clicked within N days" looks back N whole days from the moment of reading
(`Horizon.now`); N beyond the tracking retention is refused where the retention is known
(`parse(..., retention_days=...)`): older events are kept only as counts that name nobody.
"last_campaigns none_opened N" holds when the contact's N most recent sent deliveries tracked
for opens (by send time) all show no open and no click by the person. Mail without the pixel
is left out (it cannot show an open, so it proves nothing); a contact with fewer than N such
deliveries since `Horizon.kept_since` (the oldest moment whose events are all still kept) does
not match: too little is known to say they stopped opening.

Subscriptions are the services billing reported (domain/subscriptions.py), read on the local day
`Horizon.today` (the profile's zone, as the renewal notices read it): "expires_within N" is an
active one whose expiry day is from today to N days ahead, both included; "expired_within N" one
whose expiry day is in the N days before today and that was neither renewed nor cancelled
(active or expired: its renewal is due); "active" one that is active and not past its day (or
has none).

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
from notifier.domain.profile import TRACK_CLICKS, TRACK_OPENS
from notifier.domain.subscriptions import KINDS as SUBSCRIPTION_KINDS
from notifier.domain.subscriptions import SubscriptionStatus
from notifier.domain.tokens import CLICK, OPEN

MAX_DEPTH = 4  # the top group is depth 1
MAX_CONDITIONS = 40
MAX_ITEMS = 40  # per group
MAX_TEXT = 200
CONTACT_TEXT_FIELDS = ("email", "name", "locale")
ENGAGEMENT_FIELDS = ("opened", "clicked")
FIELDS = (
    *CONTACT_TEXT_FIELDS,
    "created_at",
    "attribute",
    "tag",
    "consent",
    "received",
    *ENGAGEMENT_FIELDS,
    "last_campaigns",
    "subscription",
)
TYPES = ("text", "number", "date")
TEXT_OPS = ("eq", "ne", "contains", "starts_with", "is_set")
ORDER_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "is_set")
TAG_OPS = ("has", "has_not")
CONSENT_STATES = ("granted", "withdrawn", "pending", "none")
RECEIVED_OPS = ("received", "not_received")
ENGAGEMENT_OPS = ("within", "not_within")
LAST_OPS = ("none_opened",)
SUBSCRIPTION_OPS = ("expires_within", "expired_within", "active")
# Statuses whose expiry makes a renewal due: renewed and cancelled ones are done with.
RENEWAL_DUE = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.EXPIRED.value)
MAX_DAYS = 365
MAX_LAST = 20
# A delivery's `tracking` values that carried the open pixel (domain/profile.py).
TRACKED_FOR_OPENS = (TRACK_OPENS, TRACK_OPENS | TRACK_CLICKS)
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
    if field_name in ENGAGEMENT_FIELDS:
        return ENGAGEMENT_OPS
    if field_name == "last_campaigns":
        return LAST_OPS
    if field_name == "subscription":
        return SUBSCRIPTION_OPS
    return ()


class SegmentInvalid(ValidationFailed):
    """Each problem keyed by its place in the tree: "items.0.items.2.value"."""


def parse(data: Any, purposes: Collection[str], retention_days: int | None = None) -> Group:
    """A Group from JSON-shaped data, or SegmentInvalid naming every problem found.

    With `retention_days` (TRACKING_RETENTION_DAYS), "opened/clicked within N days" with N
    beyond it is refused: those events are gone. A stored segment is read back without it, so
    a retention shortened later makes the condition see the events still kept."""
    errors: dict[str, str] = {}
    counter = [0]
    group = _group(data, "definition", 1, purposes, errors, counter)
    if counter[0] > MAX_CONDITIONS:
        errors["definition"] = f"at most {MAX_CONDITIONS} conditions"
    if group is not None and retention_days is not None:
        _within_retention(group, "definition", retention_days, errors)
    if errors or group is None:
        raise SegmentInvalid(errors or {"definition": "is not a group"})
    return group


def _within_retention(group: Group, path: str, days: int, errors: dict[str, str]) -> None:
    for index, item in enumerate(group.items):
        here = f"{path}.items.{index}"
        if isinstance(item, Group):
            _within_retention(item, here, days, errors)
        elif item.field in ENGAGEMENT_FIELDS and int(item.value or 0) > days:  # type: ignore[arg-type]
            errors[f"{here}.value"] = (
                f"at most {days} days: older opens and clicks are kept only as daily counts "
                "that name nobody"
            )


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
    elif name == "subscription":
        if key not in ("", None, *SUBSCRIPTION_KINDS):
            errors[f"{path}.key"] = f"empty (any) or one of {', '.join(SUBSCRIPTION_KINDS)}"
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
    if op in ("is_set", "active"):
        if raw not in (None, ""):
            raise ValueError(f"{op.replace('_', ' ')} takes no value")
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
    if name in (*ENGAGEMENT_FIELDS, "subscription"):
        return _whole(text, MAX_DAYS, "days")
    if name == "last_campaigns":
        return _whole(text, MAX_LAST, "campaigns")
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


def _whole(text: str, most: int, unit: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 3 or not 1 <= int(text) <= most:
        raise ValueError(f"a whole number of {unit} from 1 to {most}")
    return int(text)


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
class Horizon:
    """When a segment is read: `now`, and `kept_since`, the oldest moment from which every
    tracking event is still kept (now minus the retention; the roll-up cuts at a day's start
    before it); `local_day`, today where the business is (None: now's UTC day)."""

    now: datetime
    kept_since: datetime
    local_day: date | None = None

    @classmethod
    def at(cls, now: datetime, retention_days: int, local_day: date | None = None) -> Horizon:
        return cls(now, now - timedelta(days=retention_days), local_day)

    @property
    def today(self) -> date:
        return self.local_day or self.now.astimezone(UTC).date()


@dataclass(frozen=True)
class Event:
    """One tracking event of the contact: OPEN or CLICK, its campaign, when, a person's or not."""

    kind: str
    campaign_id: int
    at: datetime
    human: bool


@dataclass(frozen=True)
class TrackedDelivery:
    """A SENT delivery that carried the open pixel (TRACKED_FOR_OPENS), with its send time."""

    id: int
    campaign_id: int
    sent_at: datetime


@dataclass(frozen=True)
class Held:
    """A subscription of the contact: its kind, status and expiry day (None: none)."""

    kind: str
    status: str
    expires_on: date | None


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
    events: tuple[Event, ...] = ()
    tracked: tuple[TrackedDelivery, ...] = ()
    subscriptions: tuple[Held, ...] = ()


def matches(group: Group, facts: ContactFacts, horizon: Horizon | None = None) -> bool:
    """`horizon` is needed only by the engagement conditions."""
    results = (
        matches(item, facts, horizon) if isinstance(item, Group) else holds(item, facts, horizon)
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


def holds(c: Condition, facts: ContactFacts, horizon: Horizon | None = None) -> bool:
    if c.field in ENGAGEMENT_FIELDS or c.field in ("last_campaigns", "subscription"):
        if horizon is None:
            raise ValueError("an engagement or subscription condition is read at a Horizon")
        if c.field == "subscription":
            return any(_subscription_holds(c, held, horizon.today) for held in facts.subscriptions)
        return _engaged(c, facts, horizon)
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


def engagement_kinds(field_name: str) -> tuple[str, ...]:
    """The event kinds a condition counts: a click is also an open (see the module's doc)."""
    return (CLICK,) if field_name == "clicked" else (OPEN, CLICK)


def _engaged(c: Condition, facts: ContactFacts, horizon: Horizon) -> bool:
    assert isinstance(c.value, int)
    kinds = engagement_kinds(c.field)
    if c.field == "last_campaigns":
        latest = sorted(facts.tracked, key=lambda d: (d.sent_at, d.id), reverse=True)[: c.value]
        if len(latest) < c.value or latest[-1].sent_at < horizon.kept_since:
            return False
        opened = {e.campaign_id for e in facts.events if e.human and e.kind in kinds}
        return not any(d.campaign_id in opened for d in latest)
    since = horizon.now - timedelta(days=c.value)
    found = any(e.human and e.kind in kinds and e.at >= since for e in facts.events)
    return found == (c.op == "within")


def _subscription_holds(c: Condition, held: Held, today: date) -> bool:
    if c.key and held.kind != c.key:
        return False
    if c.op == "active":
        return held.status == SubscriptionStatus.ACTIVE and (
            held.expires_on is None or held.expires_on >= today
        )
    if held.expires_on is None:
        return False
    days = timedelta(days=int(c.value))  # type: ignore[arg-type]
    if c.op == "expires_within":
        return held.status == SubscriptionStatus.ACTIVE and today <= held.expires_on <= today + days
    return held.status in RENEWAL_DUE and today - days <= held.expires_on < today


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
