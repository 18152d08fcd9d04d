"""RELAYS: its parsing (hostile values each named in one line), the choice of relay, the windows."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from notifier.domain.relays import (
    SLOTS,
    Relay,
    RelayConfigError,
    Warmup,
    candidates,
    local_day,
    next_midnight,
    parse_limits,
    parse_relays,
    room,
    unserved,
    window_slots,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")  # the shipped profiles' zone: UTC+7, no daylight saving


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
        (one(warmup=[500]), "RELAYS 'a': warmup must be an object"),
        (one(warmup={"start": "2026-12-01"}), "warmup.daily must be a list of 1 to 365"),
        (one(warmup={"start": "2026-12-01", "daily": []}), "warmup.daily must be a list of 1"),
        (one(warmup={"start": "2026-12-01", "daily": 500}), "warmup.daily must be a list"),
        (one(warmup={"start": "2026-12-01", "daily": [1] * 366}), "warmup.daily must be a list"),
        (one(warmup={"start": "2026-12-01", "daily": [500, 0]}), "warmup.daily must hold whole"),
        (one(warmup={"start": "2026-12-01", "daily": [500, -1]}), "warmup.daily must hold"),
        (one(warmup={"start": "2026-12-01", "daily": [500, 1.5]}), "warmup.daily must hold"),
        (one(warmup={"start": "2026-12-01", "daily": ["500"]}), "warmup.daily must hold"),
        (one(warmup={"start": "2026-12-01", "daily": [True]}), "warmup.daily must hold"),
        (one(warmup={"start": "2026-12-01", "daily": [None]}), "warmup.daily must hold"),
        (one(warmup={"start": "2026-12-01", "daily": [10**7 + 1]}), "warmup.daily must hold"),
        (one(warmup={"start": "2026-12-01", "daily": [1e400]}), "warmup.daily must hold"),
        (one(warmup={"daily": [500]}), "RELAYS 'a': warmup.start must be a date YYYY-MM-DD"),
        (one(warmup={"start": "2026-02-30", "daily": [500]}), "warmup.start must be a date"),
        (one(warmup={"start": "01/12/2026", "daily": [500]}), "warmup.start must be a date"),
        (one(warmup={"start": "20261201", "daily": [500]}), "warmup.start must be a date"),
        (one(warmup={"start": "2026-12-01T00:00", "daily": [500]}), "warmup.start must be"),
        (one(warmup={"start": 20261201, "daily": [500]}), "warmup.start must be a date"),
        (one(warmup={"start": "2026-12-01", "daily": [5], "end": 3}), "warmup has an unknown"),
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


PLAN = Warmup(date(2026, 12, 1), (500, 1000, 2000))


def test_a_warmup_plan_is_read_and_may_step_down() -> None:
    (relay,) = parse_relays(one(warmup={"start": "2026-12-01", "daily": [500, 1000, 2000]}))
    assert relay.warmup == PLAN and not relay.limited  # its own windows are unchanged
    (relay,) = parse_relays(one(warmup={"start": "2026-12-01", "daily": [2000, 300, 10_000_000]}))
    assert relay.warmup is not None and relay.warmup.daily == (2000, 300, 10_000_000)
    assert parse_relays(one())[0].warmup is None
    days = parse_relays(one(warmup={"start": "2026-12-01", "daily": [1] * 365}))[0].warmup
    assert days is not None and len(days.daily) == 365


def test_the_plan_gives_each_day_its_allowance_the_first_before_it_none_after() -> None:
    assert [PLAN.allowance(date(2026, 11, d)) for d in (1, 29, 30)] == [500, 500, 500]
    assert [PLAN.day(date(2026, 11, d)) for d in (29, 30)] == [-1, 0]
    assert [PLAN.day(date(2026, 12, d)) for d in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert [PLAN.allowance(date(2026, 12, d)) for d in (1, 2, 3, 4, 31)] == [
        500,
        1000,
        2000,
        None,
        None,
    ]


def test_the_day_turns_at_local_midnight_not_at_utc_midnight() -> None:
    before = datetime(2026, 12, 1, 16, 59, 59, 999_999, tzinfo=UTC)  # 23:59:59.999 in Hanoi
    after = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 00:00 on 2 December there
    assert local_day(before, VN) == date(2026, 12, 1) and local_day(after, VN) == date(2026, 12, 2)
    assert PLAN.allowance(local_day(before, VN)) == 500
    assert PLAN.allowance(local_day(after, VN)) == 1000
    # 06:59 UTC on 1 December is 13:59 there; UTC's midnight changes nothing.
    assert local_day(datetime(2026, 11, 30, 23, 0, tzinfo=UTC), VN) == date(2026, 12, 1)
    assert next_midnight(before, VN) == after
    assert next_midnight(after, VN) == datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert next_midnight(datetime(2026, 12, 1, 0, 0, tzinfo=UTC), VN) == after


def test_next_midnight_where_clocks_change() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 2026-10-25 lasts 25 hours in Paris: its midnight after is 23:00 UTC, 25 h after the last.
    assert next_midnight(datetime(2026, 10, 25, 12, tzinfo=UTC), paris) == datetime(
        2026, 10, 25, 23, 0, tzinfo=UTC
    )
    # Santiago skips midnight on 2026-09-06 (00:00 -> 01:00): the day begins at 04:00 UTC.
    santiago = ZoneInfo("America/Santiago")
    start = next_midnight(datetime(2026, 9, 5, 20, tzinfo=UTC), santiago)
    assert start == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert local_day(start, santiago) == date(2026, 9, 6)


def test_a_kind_is_unserved_when_none_of_its_candidates_answers() -> None:
    bulk_1, bulk_2, tx = parse_relays(
        relays_json(
            {"name": "bulk-1", "url": "smtp://127.0.0.1:25", "weight": 3},
            {"name": "bulk-2", "url": "smtp://127.0.0.1:26"},
            {"name": "tx", "url": "smtp://127.0.0.1:27", "weight": 0, "pinned": ["notice"]},
        )
    )
    relays = (bulk_1, bulk_2, tx)
    assert unserved(relays, {"bulk-1", "bulk-2", "tx"}) == {}
    # One bulk relay down: campaign and system mail (unpinned) go through the other.
    assert unserved(relays, {"bulk-2", "tx"}) == {}
    # The relay notices are pinned to, with no fallback: notices wait, and only they.
    assert unserved(relays, {"bulk-1", "bulk-2"}) == {"notice": ["tx"]}
    # tx alone carries no campaign mail: its weight is 0.
    both = ["bulk-1", "bulk-2"]
    assert unserved(relays, {"tx"}) == {"campaign": both, "system": both}
    assert unserved(relays, set()) == {"campaign": both, "notice": ["tx"], "system": both}


def test_a_fallback_serves_the_pinned_kind_while_its_relay_is_down() -> None:
    relays = parse_relays(
        relays_json(
            {"name": "bulk", "url": "smtp://127.0.0.1:25"},
            {"name": "tx", "url": "smtp://127.0.0.1:27", "weight": 0,
             "pinned": ["notice", "system"], "fallback": "bulk"},
            {"name": "news", "url": "smtp://127.0.0.1:28", "weight": 0, "pinned": ["campaign"]},
        )
    )  # fmt: skip
    assert unserved(relays, {"bulk"}) == {
        "campaign": ["news"]
    }  # campaign mail is pinned to news only
    assert unserved(relays, {"news", "tx"}) == {}
    assert unserved(relays, {"news"}) == {"notice": ["tx", "bulk"], "system": ["tx", "bulk"]}


def test_a_kind_no_relay_may_carry_is_unserved_with_no_candidates() -> None:
    relays = parse_relays(
        relays_json(
            {"name": "news", "url": "smtp://127.0.0.1:28", "weight": 0, "pinned": ["campaign"]},
        )
    )
    assert unserved(relays, {"news"}) == {"notice": [], "system": []}
