"""The segment definition is hostile input: every shape, type and limit is checked before SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from notifier.domain import segments
from notifier.domain.segments import ContactFacts, SegmentInvalid, matches, parse

PURPOSES = {"promotions"}


def _one(condition: dict[str, Any]) -> dict[str, Any]:
    return {"match": "all", "items": [condition]}


def _nested(depth: int) -> dict[str, Any]:
    tree: dict[str, Any] = _one({"field": "locale", "op": "eq", "value": "vi"})
    for _ in range(depth - 1):
        tree = {"match": "any", "items": [tree]}
    return tree


def test_a_valid_tree_parses_and_round_trips() -> None:
    tree = {
        "match": "any",
        "items": [
            {"match": "all", "items": [
                {"field": "attribute", "key": "s", "type": "number", "op": "ge", "value": "10.5"},
                {"field": "created_at", "op": "lt", "value": "2026-01-01"},
            ]},
            {"field": "consent", "key": "promotions", "op": "is", "value": "none"},
            {"field": "received", "op": "received", "value": 7},
        ],
    }  # fmt: skip
    group = parse(tree, PURPOSES)
    first = group.items[0]
    assert isinstance(first, segments.Group)
    assert first.items[0] == segments.Condition("attribute", "ge", Decimal("10.5"), "s", "number")
    assert parse(segments.to_json(group), PURPOSES) == group
    assert group.campaign_ids() == {7}


def test_depth_is_limited() -> None:
    parse(_nested(segments.MAX_DEPTH), PURPOSES)
    with pytest.raises(SegmentInvalid, match="nest at most"):
        parse(_nested(segments.MAX_DEPTH + 1), PURPOSES)
    # Far deeper than Python's recursion limit would allow: refused at the limit, not crashed.
    with pytest.raises(SegmentInvalid):
        parse(_nested(5000), PURPOSES)


def test_size_is_limited() -> None:
    row = {"field": "locale", "op": "eq", "value": "vi"}
    with pytest.raises(SegmentInvalid, match="at most 40 in a group"):
        parse({"match": "all", "items": [row] * 1_000_000}, PURPOSES)
    spread = {"match": "all", "items": [{"match": "any", "items": [row] * 30}] * 3}
    with pytest.raises(SegmentInvalid, match="at most 40 conditions"):
        parse(spread, PURPOSES)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "all",
        {"match": "all"},
        {"match": "all", "items": []},
        {"match": "all", "items": [1]},
        {"match": "both", "items": [{"field": "locale", "op": "eq", "value": "vi"}]},
        {"match": "all", "items": [], "where": "1=1"},
        _one({"field": "locale", "op": "eq", "value": "vi", "sql": "x"}),
        _one({"field": "phone", "op": "eq", "value": "1"}),
        _one({"field": "locale", "op": "lt", "value": "vi"}),
        _one({"field": "locale", "op": "eq", "value": ["vi"]}),
        _one({"field": "locale", "op": "eq", "value": True}),
        _one({"field": "locale", "op": "eq", "value": ""}),
        _one({"field": "locale", "op": "eq", "value": "v" * 201}),
        _one({"field": "locale", "op": "is_set", "value": "vi"}),
        _one({"field": "locale", "op": "eq", "value": "vi", "key": "x"}),
        _one({"field": "attribute", "key": "a b", "op": "eq", "value": "1"}),
        _one({"field": "attribute", "key": "k" * 65, "op": "eq", "value": "1"}),
        _one({"field": "attribute", "key": "n", "type": "number", "op": "eq", "value": "NaN"}),
        _one({"field": "attribute", "key": "n", "type": "number", "op": "eq", "value": "1" * 13}),
        _one({"field": "attribute", "key": "n", "type": "number", "op": "contains", "value": "1"}),
        _one({"field": "attribute", "key": "d", "type": "date", "op": "eq", "value": "2026-13-01"}),
        _one({"field": "tag", "op": "has", "value": "a\nb"}),
        _one({"field": "consent", "key": "other", "op": "is", "value": "granted"}),
        _one({"field": "consent", "key": "promotions", "op": "is", "value": "maybe"}),
        _one({"field": "received", "op": "received", "value": "7 OR 1=1"}),
        _one({"field": "received", "op": "received", "value": "٣"}),  # a non-ASCII digit
    ],
)
def test_bad_definitions_are_refused(data: Any) -> None:
    with pytest.raises(SegmentInvalid):
        parse(data, PURPOSES)


def test_the_python_reading_on_edges() -> None:
    facts = ContactFacts(
        email="an@example.com", name="", locale="vi",
        created_at=datetime(2026, 1, 2, 0, 0, tzinfo=UTC),
        attributes={"spend": "12.50", "odd": "1e3", "when": "2026-01-15", "n": 7},
        tags=frozenset({"vip"}), consents={"promotions": "pending"}, received=frozenset({3}),
    )  # fmt: skip

    def holds(condition: dict[str, Any]) -> bool:
        return matches(parse(_one(condition), PURPOSES), facts)

    assert holds(
        {"field": "attribute", "key": "spend", "type": "number", "op": "eq", "value": "12.5"}
    )
    assert not holds(
        {"field": "attribute", "key": "odd", "type": "number", "op": "ge", "value": "0"}
    )
    assert not holds({"field": "attribute", "key": "missing", "op": "ne", "value": "x"})
    assert holds({"field": "attribute", "key": "n", "type": "number", "op": "gt", "value": "6"})
    assert holds(
        {"field": "attribute", "key": "when", "type": "date", "op": "gt", "value": "2026-01-14"}
    )
    assert not holds({"field": "name", "op": "is_set"})
    assert holds({"field": "created_at", "op": "eq", "value": "2026-01-02"})
    assert holds({"field": "created_at", "op": "gt", "value": "2026-01-01"})
    assert not holds({"field": "created_at", "op": "le", "value": "2026-01-01"})
    assert holds({"field": "consent", "key": "promotions", "op": "is", "value": "pending"})
    assert holds({"field": "received", "op": "not_received", "value": "4"})
    assert not holds({"field": "email", "op": "contains", "value": "AN"})  # case-sensitive
    assert segments.day_start(date(2026, 1, 2)) == facts.created_at
