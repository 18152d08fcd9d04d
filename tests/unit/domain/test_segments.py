"""The segment definition is hostile input: every shape, type and limit is checked before SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
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


# ---- engagement: opened / clicked within N days, none of the last N opened ------------------

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HORIZON = segments.Horizon.at(NOW, 90)  # events kept since 2026-03-03 12:00


def _event(kind: str, days_ago: float, human: bool = True, campaign: int = 1) -> segments.Event:
    return segments.Event(kind, campaign, NOW - timedelta(days=days_ago), human)


def _sent(campaign: int, days_ago: float, delivery: int | None = None) -> segments.TrackedDelivery:
    return segments.TrackedDelivery(delivery or campaign, campaign, NOW - timedelta(days=days_ago))


def _engagement(
    events: tuple[segments.Event, ...] = (), tracked: tuple[segments.TrackedDelivery, ...] = ()
) -> ContactFacts:
    return ContactFacts(
        email="an@example.com", name="An", locale="vi", created_at=NOW, attributes={},
        tags=frozenset(), consents={}, received=frozenset(), events=events, tracked=tracked,
    )  # fmt: skip


def _reads(condition: dict[str, Any], facts: ContactFacts) -> bool:
    return matches(parse(_one(condition), PURPOSES), facts, HORIZON)


@pytest.mark.parametrize(
    ("events", "opened", "clicked"),
    [
        ((), False, False),
        ((_event("o", 29.9),), True, False),
        ((_event("o", 30),), True, False),  # exactly N days ago: still within
        ((_event("o", 30.01),), False, False),
        ((_event("c", 1),), True, True),  # a click is also an open
        ((_event("o", 1, human=False),), False, False),  # a scanner's or Apple's open
        ((_event("c", 1, human=False),), False, False),
        ((_event("c", 1, human=False), _event("o", 2)), True, False),
        ((_event("c", 45), _event("o", 2)), True, False),
    ],
)
def test_opened_and_clicked_within_n_days_count_only_peoples_events(
    events: tuple[segments.Event, ...], opened: bool, clicked: bool
) -> None:
    facts = _engagement(events)
    for field, expected in (("opened", opened), ("clicked", clicked)):
        assert _reads({"field": field, "op": "within", "value": 30}, facts) is expected
        assert _reads({"field": field, "op": "not_within", "value": "30"}, facts) is not expected


TIED = (_sent(1, 10, 1), _sent(2, 10, 2), _sent(3, 10, 3), _sent(4, 10, 4))


@pytest.mark.parametrize(
    ("tracked", "events", "expected"),
    [
        # Three tracked mails, none opened: matches.
        ((_sent(1, 30), _sent(2, 20), _sent(3, 10)), (), True),
        # An open of one of the three latest: no match; of an older one: still a match.
        ((_sent(1, 30), _sent(2, 20), _sent(3, 10)), (_event("o", 19, campaign=2),), False),
        ((_sent(9, 40), _sent(2, 20), _sent(3, 10), _sent(4, 5)), (_event("o", 39, campaign=9),),
         True),
        # A click shows the mail was opened, whatever the pixel said.
        ((_sent(1, 30), _sent(2, 20), _sent(3, 10)), (_event("c", 9, campaign=3),), False),
        # Machines' opens prove nothing: still a match.
        ((_sent(1, 30), _sent(2, 20), _sent(3, 10)), (_event("o", 9, False, campaign=3),), True),
        # Fewer than three mails with the pixel: too little known, no match.
        ((_sent(2, 20), _sent(3, 10)), (), False),
        ((), (), False),
        # The third latest left before every event is kept (90 days): its open may be rolled up.
        ((_sent(1, 91), _sent(2, 20), _sent(3, 10)), (), False),
        # Same send time: the later delivery id is the more recent.
        (TIED, (_event("o", 1, campaign=1),), True),
        ((_sent(1, 10, 5), *TIED[1:]), (_event("o", 1, campaign=1),), False),
    ],
)  # fmt: skip
def test_none_of_the_last_n_opened_reads_only_mail_with_the_pixel(
    tracked: tuple[segments.TrackedDelivery, ...],
    events: tuple[segments.Event, ...],
    expected: bool,
) -> None:
    facts = _engagement(events, tracked)
    assert _reads({"field": "last_campaigns", "op": "none_opened", "value": 3}, facts) is expected


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "opened", "op": "within", "value": 0},
        {"field": "opened", "op": "within", "value": 366},
        {"field": "opened", "op": "within", "value": "-1"},
        {"field": "opened", "op": "within", "value": "30 days"},
        {"field": "opened", "op": "within", "value": "3.5"},
        {"field": "opened", "op": "within", "value": "٣"},
        {"field": "opened", "op": "within", "value": True},
        {"field": "opened", "op": "within", "value": ""},
        {"field": "opened", "op": "within"},
        {"field": "clicked", "op": "received", "value": 3},
        {"field": "clicked", "op": "within", "value": 3, "key": "x"},
        {"field": "last_campaigns", "op": "none_opened", "value": 21},
        {"field": "last_campaigns", "op": "none_opened", "value": 0},
        {"field": "last_campaigns", "op": "within", "value": 3},
        {"field": "last_campaigns", "op": "none_opened", "value": "1" * 201},
    ],
)
def test_bad_engagement_conditions_are_refused(condition: dict[str, Any]) -> None:
    with pytest.raises(SegmentInvalid):
        parse(_one(condition), PURPOSES)


def test_days_beyond_the_tracking_retention_are_refused_with_the_reason() -> None:
    tree = {"match": "any", "items": [
        {"field": "clicked", "op": "within", "value": 90},
        {"match": "all", "items": [{"field": "opened", "op": "not_within", "value": 91}]},
    ]}  # fmt: skip
    parse(tree, PURPOSES)  # no retention given: only the absolute limit
    with pytest.raises(SegmentInvalid) as refused:
        parse(tree, PURPOSES, retention_days=90)
    assert list(refused.value.errors) == ["definition.items.1.items.0.value"]
    assert "at most 90 days" in refused.value.errors["definition.items.1.items.0.value"]
    group = parse(tree, PURPOSES, retention_days=91)
    assert parse(segments.to_json(group), PURPOSES) == group


def test_an_engagement_condition_needs_the_moment_it_is_read_at() -> None:
    group = parse(_one({"field": "opened", "op": "within", "value": 3}), PURPOSES)
    with pytest.raises(ValueError, match="Horizon"):
        matches(group, _engagement())


# ---- subscriptions: expires within N days, expired in the last N, active ---------------------

TODAY = date(2026, 6, 2)  # the business's day: UTC+7 is already past midnight at NOW
LOCAL = segments.Horizon.at(NOW + timedelta(hours=11), 90, TODAY)


def _holding(*held: segments.Held) -> ContactFacts:
    return ContactFacts(
        email="an@example.com", name="An", locale="vi", created_at=NOW, attributes={},
        tags=frozenset(), consents={}, received=frozenset(), subscriptions=held,
    )  # fmt: skip


def _days(n: int) -> date:
    return TODAY + timedelta(days=n)


@pytest.mark.parametrize(
    ("held", "op", "value", "key", "expected"),
    [
        (segments.Held("domain", "active", _days(0)), "expires_within", 30, "", True),  # today
        (segments.Held("domain", "active", _days(30)), "expires_within", 30, "", True),
        (segments.Held("domain", "active", _days(31)), "expires_within", 30, "", False),
        (segments.Held("domain", "active", _days(-1)), "expires_within", 30, "", False),
        (segments.Held("domain", "renewed", _days(5)), "expires_within", 30, "", False),
        (segments.Held("domain", "cancelled", _days(5)), "expires_within", 30, "", False),
        (segments.Held("domain", "active", None), "expires_within", 30, "", False),
        (segments.Held("domain", "active", _days(5)), "expires_within", 30, "hosting", False),
        (segments.Held("hosting", "active", _days(5)), "expires_within", 30, "hosting", True),
        (segments.Held("domain", "active", _days(-1)), "expired_within", 7, "", True),
        (segments.Held("domain", "expired", _days(-7)), "expired_within", 7, "", True),
        (segments.Held("domain", "expired", _days(-8)), "expired_within", 7, "", False),
        (segments.Held("domain", "active", _days(0)), "expired_within", 7, "", False),  # today
        (segments.Held("domain", "renewed", _days(-2)), "expired_within", 7, "", False),
        (segments.Held("domain", "cancelled", _days(-2)), "expired_within", 7, "", False),
        (segments.Held("ssl", "active", None), "active", None, "", True),
        (segments.Held("ssl", "active", _days(0)), "active", None, "ssl", True),
        (segments.Held("ssl", "active", _days(-1)), "active", None, "", False),
        (segments.Held("ssl", "expired", _days(9)), "active", None, "", False),
        (segments.Held("ssl", "active", _days(9)), "active", None, "email", False),
    ],
)
def test_subscription_conditions_on_the_local_day(
    held: segments.Held, op: str, value: int | None, key: str, expected: bool
) -> None:
    condition: dict[str, Any] = {"field": "subscription", "op": op, "key": key}
    if value is not None:
        condition["value"] = value
    group = parse(_one(condition), PURPOSES)
    assert matches(group, _holding(held), LOCAL) is expected
    assert matches(group, _holding(), LOCAL) is False  # nothing held: never
    assert parse(segments.to_json(group), PURPOSES) == group


def test_the_local_day_is_the_horizons_not_utcs() -> None:
    # 19:00 UTC on 1 June is 2 June in Hà Nội: a service ending on 1 June expired yesterday.
    group = parse(_one({"field": "subscription", "op": "expired_within", "value": 1}), PURPOSES)
    ended = _holding(segments.Held("domain", "active", date(2026, 6, 1)))
    evening = NOW + timedelta(hours=7)
    assert matches(group, ended, segments.Horizon.at(evening, 90, date(2026, 6, 2)))
    assert not matches(group, ended, segments.Horizon.at(evening, 90))  # UTC: still 1 June


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "subscription", "op": "expires_within", "value": 0},
        {"field": "subscription", "op": "expires_within", "value": 366},
        {"field": "subscription", "op": "expires_within", "value": "30 OR 1=1"},
        {"field": "subscription", "op": "expires_within"},
        {"field": "subscription", "op": "active", "value": 3},
        {"field": "subscription", "op": "within", "value": 3},
        {"field": "subscription", "op": "active", "key": "DOMAIN"},
        {"field": "subscription", "op": "active", "key": "domain'; --"},
        {"field": "subscription", "op": "active", "key": "x" * 65},
    ],
)
def test_bad_subscription_conditions_are_refused(condition: dict[str, Any]) -> None:
    with pytest.raises(SegmentInvalid):
        parse(_one(condition), PURPOSES)
