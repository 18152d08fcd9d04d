"""A/B subject tests: the winner rule, the sample's split, and the settings staff may give."""

from __future__ import annotations

from collections import Counter

import pytest

from notifier.domain.ab_test import (
    HASH_MODULUS,
    Reason,
    Tally,
    Verdict,
    check,
    order_key,
    pick_winner,
    sample_size,
    split,
    variant_at,
)

GOOD = [("Ưu đãi tháng 6", "June offer"), ("Giảm 20%", "20% off")]


@pytest.mark.parametrize(
    ("tallies", "verdict"),
    [
        # B has more people per tracked message
        ([Tally(1, 100, 5), Tally(2, 100, 9)], Verdict(2, Reason.HIGHEST_RATE)),
        ([Tally(1, 100, 9), Tally(2, 100, 5)], Verdict(1, Reason.HIGHEST_RATE)),
        # equal rates: the lower number, said to be a tie
        ([Tally(1, 100, 7), Tally(2, 100, 7)], Verdict(1, Reason.TIE)),
        ([Tally(1, 10, 1), Tally(2, 50, 9), Tally(3, 50, 9)], Verdict(2, Reason.TIE)),
        # the rate, not the count: 5 of 50 beats 6 of 100
        ([Tally(1, 100, 6), Tally(2, 50, 5)], Verdict(2, Reason.HIGHEST_RATE)),
        # exact fractions: 1/3 against 33/100 is not a tie
        ([Tally(1, 100, 33), Tally(2, 3, 1)], Verdict(2, Reason.HIGHEST_RATE)),
        # tracked mail, nobody engaged: A
        ([Tally(1, 10, 0), Tally(2, 10, 0)], Verdict(1, Reason.NO_ENGAGEMENT)),
        # nobody tracked at all: A, and the reason says why
        ([Tally(1, 0, 0), Tally(2, 0, 0)], Verdict(1, Reason.NO_TRACKED_MAIL)),
        # a variant nobody tracked cannot win over one with people
        ([Tally(1, 0, 0), Tally(2, 10, 1)], Verdict(2, Reason.HIGHEST_RATE)),
        # order of the input does not matter
        ([Tally(4, 10, 2), Tally(3, 10, 2), Tally(2, 10, 1), Tally(1, 10, 0)],
         Verdict(3, Reason.TIE)),
        ([Tally(2, 10, 3), Tally(1, 10, 2)], Verdict(2, Reason.HIGHEST_RATE)),
    ],
)  # fmt: skip
def test_the_winner_rule(tallies: list[Tally], verdict: Verdict) -> None:
    assert pick_winner(tallies) == verdict


@pytest.mark.parametrize(
    ("audience", "percent", "variants", "size"),
    [
        (1000, 10, 2, 100),
        (1000, 50, 4, 500),
        (999, 10, 2, 100),  # 99.9 rounds up
        (994, 10, 2, 99),  # 99.4 rounds down
        (995, 10, 2, 100),  # half rounds up
        (10, 10, 2, 2),  # never fewer than one per variant
        (10, 10, 4, 4),
        (3, 10, 4, 3),  # never more than the audience
        (0, 50, 2, 0),
    ],
)
def test_the_sample_size(audience: int, percent: int, variants: int, size: int) -> None:
    assert sample_size(audience, percent, variants) == size


@pytest.mark.parametrize(
    ("rank", "variants", "variant"),
    [(0, 2, 1), (1, 2, 2), (2, 2, 1), (0, 4, 1), (3, 4, 4), (4, 4, 1), (7, 3, 2)],
)
def test_the_variants_take_turns(rank: int, variants: int, variant: int) -> None:
    assert variant_at(rank, variants) == variant


@pytest.mark.parametrize("variants", [2, 3, 4])
@pytest.mark.parametrize("audience", [7, 100, 1001])
def test_the_split_is_even_deterministic_and_spread_over_the_ids(
    variants: int, audience: int
) -> None:
    contacts = range(1, audience + 1)
    first = split(12, contacts, 30, variants)
    assert first == split(12, reversed(contacts), 30, variants)  # the same, whatever the order
    assert len(first) == sample_size(audience, 30, variants)
    shares = Counter(first.values())
    assert set(shares) == set(range(1, variants + 1))
    assert max(shares.values()) - min(shares.values()) <= 1
    if audience > 100:
        # Not the oldest contacts: the sample reaches into the newest third as well.
        assert any(contact > audience * 2 // 3 for contact in first)
        assert split(13, contacts, 30, variants).keys() != first.keys()  # per campaign


def test_the_order_key_stays_inside_64_bits() -> None:
    biggest = order_key(2**31 - 1, 2**31 - 1)
    assert 0 <= biggest < HASH_MODULUS
    assert (2**31 - 1) * 2_654_435_761 + HASH_MODULUS < 2**63


def test_good_settings_are_kept() -> None:
    settings, errors = check(GOOD, "20", 4, "clicks")
    assert errors == {}
    assert settings is not None
    assert settings.subjects == tuple(GOOD)
    assert (settings.sample_percent, settings.wait_hours, settings.metric) == (20, 4, "clicks")


@pytest.mark.parametrize(
    ("subjects", "percent", "hours", "metric", "field"),
    [
        (GOOD[:1], 20, 4, "clicks", "ab_variants"),  # one variant
        ([*GOOD, ("c", "c"), ("d", "d"), ("e", "e")], 20, 4, "clicks", "ab_variants"),  # five
        ([GOOD[0], GOOD[0]], 20, 4, "clicks", "ab_variants"),  # the same subject twice
        ([("", "x"), GOOD[1]], 20, 4, "clicks", "ab_subject_1_vi"),
        ([GOOD[0], ("y", "   ")], 20, 4, "clicks", "ab_subject_2_en"),
        ([("a" * 201, "x"), GOOD[1]], 20, 4, "clicks", "ab_subject_1_vi"),
        ([("Ưu đãi\r\nBcc: x@example.com", "x"), GOOD[1]], 20, 4, "clicks", "ab_subject_1_vi"),
        ([("tab\there", "x"), GOOD[1]], 20, 4, "clicks", "ab_subject_1_vi"),
        ([("nul\x00", "x"), GOOD[1]], 20, 4, "clicks", "ab_subject_1_vi"),
        ([("rtl\u202ekcilc", "x"), GOOD[1]], 20, 4, "clicks", "ab_subject_1_vi"),
        ([(None, "x"), GOOD[1]], 20, 4, "clicks", "ab_subject_1_vi"),
        (GOOD, 0, 4, "clicks", "ab_sample_percent"),
        (GOOD, 100, 4, "clicks", "ab_sample_percent"),
        (GOOD, "-5", 4, "clicks", "ab_sample_percent"),
        (GOOD, "1e1", 4, "clicks", "ab_sample_percent"),
        (GOOD, True, 4, "clicks", "ab_sample_percent"),
        (GOOD, None, 4, "clicks", "ab_sample_percent"),
        (GOOD, 20, 0, "clicks", "ab_wait_hours"),
        (GOOD, 20, 1000, "clicks", "ab_wait_hours"),
        (GOOD, 20, "9" * 400, "clicks", "ab_wait_hours"),
        (GOOD, 20, 4.5, "clicks", "ab_wait_hours"),
        (GOOD, 20, 4, "revenue", "ab_metric"),
        (GOOD, 20, 4, None, "ab_metric"),
    ],
)
def test_hostile_settings_are_refused_with_their_field(
    subjects: list, percent: object, hours: object, metric: object, field: str
) -> None:
    settings, errors = check(subjects, percent, hours, metric)
    assert settings is None
    assert field in errors
