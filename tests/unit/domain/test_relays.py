"""RELAYS: its parsing (hostile values each named in one line), the choice of relay, the windows."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from notifier.domain.relays import (
    SLOTS,
    Relay,
    RelayConfigError,
    candidates,
    parse_limits,
    parse_relays,
    room,
    window_slots,
)


def relays_json(*relays: dict) -> str:
    return json.dumps(list(relays))


def one(**fields: object) -> str:
    return relays_json({"name": "a", "url": "smtp://127.0.0.1:25", **fields})


def test_a_full_relay_list_is_read() -> None:
    text = relays_json(
        {
            "name": "bulk-1",
            "url": "smtp://127.0.0.1:2525",
            "weight": 3,
            "max_connections": 4,
            "per_second": 500,
            "per_minute": 20000,
            "per_hour": 1000000,
        },
        {
            "name": "tx",
            "url": "smtps://u:p@relay.example:465",
            "weight": 0,
            "pinned": ["notice", "system", "notice"],
            "fallback": "bulk-1",
        },
    )
    bulk, tx = parse_relays(text)
    assert bulk == Relay("bulk-1", "smtp://127.0.0.1:2525", 3, 4, 500, 20000, 1000000)
    assert bulk.limits() == (500, 20000, 1000000) and bulk.limited
    assert tx.pinned == ("notice", "system") and tx.fallback == "bulk-1"
    assert tx.limits() == (0, 0, 0) and not tx.limited


def test_empty_means_smtp_url_alone() -> None:
    assert parse_relays("") == () and parse_relays("  \n") == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "RELAYS: not JSON"),
        ("[]", "non-empty JSON list"),
        ('{"name": "a"}', "non-empty JSON list"),
        ('"smtp://x"', "non-empty JSON list"),
        ("[1]", "RELAYS[0]: must be an object"),
        (relays_json({"url": "smtp://x"}), "RELAYS[0]: name must be"),
        (relays_json({"name": "", "url": "smtp://x"}), "name must be"),
        (relays_json({"name": "A b", "url": "smtp://x"}), "name must be"),
        (relays_json({"name": "a\nb", "url": "smtp://x"}), "name must be"),
        (relays_json({"name": "x" * 33, "url": "smtp://x"}), "name must be"),
        (relays_json({"name": "a:b", "url": "smtp://x"}), "name must be"),
        (relays_json({"name": 7, "url": "smtp://x"}), "name must be"),
        (relays_json({"name": "a"}), "RELAYS 'a': url is missing"),
        (relays_json({"name": "a", "url": " "}), "url is missing"),
        (relays_json({"name": "a", "url": ["smtp://x"]}), "url is missing"),
        (one(weight=-1), "weight must be a whole number from 0"),
        (one(weight=1.5), "weight must be"),
        (one(weight="3"), "weight must be"),
        (one(weight=True), "weight must be"),
        (one(weight=10**12), "weight must be"),
        (one(per_second=0), "per_second must be a whole number from 1"),
        (one(per_second=-5), "per_second must be"),
        (one(per_minute=1e400), "per_minute must be"),  # Infinity: Python's json reads it
        (one(per_hour=False), "per_hour must be"),
        (one(per_hour="NaN"), "per_hour must be"),
        (one(max_connections=0), "max_connections must be"),
        (one(pinned="notice"), "pinned must be a list"),
        (one(pinned=["notices"]), "pinned must be a list"),
        (one(pinned=["purpose:"]), "pinned must be a list"),
        (one(pinned=[1]), "pinned must be a list"),
        (one(fallback=3), "fallback must be a relay's name"),
        (one(pinned=["notice"], fallback="a"), "fallback 'a' is not another relay"),
        (one(pinned=["notice"], fallback="zz"), "fallback 'zz' is not another relay"),
        (one(smtp_url="x"), "unknown field 'smtp_url'"),
        (one(weight=0), "every weight is 0"),
        (relays_json(*({"name": f"r{i}", "url": "smtp://x"} for i in range(33))), "at most 32"),
    ],
)
def test_hostile_values_are_refused_with_the_field_named(text: str, problem: str) -> None:
    with pytest.raises(RelayConfigError) as refused:
        parse_relays(text)
    assert problem in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_name_twice_and_a_pin_twice_are_refused() -> None:
    twice = relays_json({"name": "a", "url": "smtp://x"}, {"name": "a", "url": "smtp://y"})
    with pytest.raises(RelayConfigError, match="'a' is used twice"):
        parse_relays(twice)
    pinned = relays_json(
        {"name": "a", "url": "smtp://x", "pinned": ["notice"]},
        {"name": "b", "url": "smtp://y", "pinned": ["notice"]},
    )
    with pytest.raises(RelayConfigError, match="'notice' is pinned to both 'a' and 'b'"):
        parse_relays(pinned)
    fallback_unpinned = relays_json(
        {"name": "a", "url": "smtp://x", "fallback": "b"}, {"name": "b", "url": "smtp://y"}
    )
    with pytest.raises(RelayConfigError, match="only for pinned mail"):
        parse_relays(fallback_unpinned)


def test_zero_weights_are_fine_when_campaign_mail_is_pinned() -> None:
    (relay,) = parse_relays(one(weight=0, pinned=["campaign"]))
    assert candidates([relay], "campaign", None, random.random) == [relay]


A = Relay("a", "smtp://a", weight=3)
B = Relay("b", "smtp://b", weight=1)
TX = Relay("tx", "smtp://tx", weight=0, pinned=("notice",), fallback="b")
PROMO = Relay("promo", "smtp://p", weight=0, pinned=("purpose:promotions",))


def test_weighted_order_follows_the_weights() -> None:
    draw = random.Random(7).random
    firsts = Counter(candidates([A, B, TX], "campaign", None, draw)[0].name for _ in range(4000))
    assert set(firsts) == {"a", "b"}  # weight 0: only pinned mail
    assert 0.72 < firsts["a"] / 4000 < 0.78
    # Every relay of non-zero weight is in the order, once: the next ones are the failover.
    assert sorted(r.name for r in candidates([A, B, TX], "campaign", None, draw)) == ["a", "b"]


def test_the_draw_decides_the_order() -> None:
    assert [r.name for r in candidates([A, B], "campaign", None, lambda: 0.0)] == ["a", "b"]
    assert [r.name for r in candidates([A, B], "campaign", None, lambda: 0.99)] == ["b", "a"]
    # 0.74 * 4 = 2.96 < 3: still a.
    assert candidates([A, B], "campaign", None, lambda: 0.74)[0] is A


def test_pinned_mail_goes_to_its_relay_then_its_fallback_only() -> None:
    relays = [A, B, TX, PROMO]
    assert candidates(relays, "notice", None, random.random) == [TX, B]
    assert candidates(relays, "campaign", "promotions", random.random) == [PROMO]
    assert candidates(relays, "system", None, random.random)[0] in (A, B)  # not pinned
    assert candidates([A, PROMO], "campaign", "news", lambda: 0.0) == [A]


def test_window_slots_cover_any_real_window() -> None:
    window = 1000
    size = window // SLOTS
    for now in (0, 49, 50, 999, 1000, 1_733_550_000_123):
        first, current = window_slots(now, window)
        assert current == now // size and current - first == SLOTS
        # The counted slots span at least the whole window up to now.
        assert first * size <= now - window + 1


def test_room_counts_only_the_window() -> None:
    window = 1000
    size = window // SLOTS
    current = 200
    now = current * size
    # The first is out: more than SLOTS + 1 slots back.
    counts = {current - SLOTS - 1: 7, current - SLOTS: 3, current - 10: 4, current: 2}
    assert room(10, counts, now, window) == 1
    assert room(5, counts, now, window) == 0  # never negative
    # A slot is kept one slot longer than a true sliding window would: the safe side.
    assert room(10, counts, now + window, window) == 8
    assert room(10, counts, now + window + size, window) == 10


def test_shared_limits_are_read_and_hostile_ones_refused() -> None:
    assert parse_limits("") == (0, 0, 0)
    assert parse_limits('{"per_second": 500, "per_hour": 100000}') == (500, 0, 100000)
    for text, problem in (
        ("[500]", "must be an object"),
        ("{}", "must be an object"),
        ('{"per_day": 5}', "unknown field 'per_day'"),
        ('{"per_second": 0}', "per_second must be"),
        ('{"per_second": true}', "per_second must be"),
        ('{"per_second": "500"}', "per_second must be"),
        ("{", "RELAY_LIMITS: not JSON"),
    ):
        with pytest.raises(RelayConfigError, match=problem):
            parse_limits(text)
