"""The reminder rules: schedules, the expiry dates a round looks at, the send moment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from notifier.domain import reminders as rules
from notifier.domain.errors import ValidationFailed

EXPIRES = date(2027, 1, 31)


def test_a_schedule_is_sorted_and_keeps_its_hour() -> None:
    schedule = rules.check_schedule([3, -30, -1, -7], 9, False)
    assert schedule == rules.Schedule((-30, -7, -1, 3), 9, False)


@pytest.mark.parametrize(
    ("steps", "hour", "paused", "field"),
    [
        ([], 9, False, "steps"),
        ([-7, -7], 9, False, "steps"),
        ([-366], 9, False, "steps"),
        ([91], 9, False, "steps"),
        (list(range(-11, 0)), 9, False, "steps"),
        (["-7"], 9, False, "steps"),
        ([True], 9, False, "steps"),
        ([1.5], 9, False, "steps"),
        ("-7,-1", 9, False, "steps"),
        ([-7], 24, False, "local_hour"),
        ([-7], -1, False, "local_hour"),
        ([-7], "9", False, "local_hour"),
        ([-7], True, False, "local_hour"),
        ([-7], 9, "yes", "paused"),
    ],
)
def test_a_bad_schedule_names_its_field(
    steps: object, hour: object, paused: object, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        rules.check_schedule(steps, hour, paused)
    assert set(refused.value.errors) == {field}


def test_the_limits_themselves_are_allowed() -> None:
    steps = [rules.MIN_STEP, rules.MAX_STEP, *range(-8, 0)]
    assert len(rules.check_schedule(steps, 23).steps) == rules.MAX_STEPS


def test_a_form_reads_signed_numbers_or_gives_the_text_back() -> None:
    assert rules.parse_steps("-30, -7; -1, +3") == [-30, -7, -1, 3]
    assert rules.parse_steps("-30, soon") == "-30, soon"


def test_the_send_moment_is_the_local_hour_of_the_step_day() -> None:
    moment = rules.send_moment(EXPIRES, -7, 9, "Asia/Ho_Chi_Minh")
    assert moment == datetime(2027, 1, 24, 2, tzinfo=UTC)  # 09:00 in Hanoi (UTC+7)
    assert rules.send_moment(EXPIRES, 3, 9, "America/New_York") == datetime(
        2027, 2, 3, 14, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("hour", "local"),
    [(7, datetime(2027, 1, 24, 8)), (3, datetime(2027, 1, 24, 8)),
     (21, datetime(2027, 1, 25, 8)), (23, datetime(2027, 1, 25, 8)),
     (8, datetime(2027, 1, 24, 8)), (20, datetime(2027, 1, 24, 20))],
)  # fmt: skip
def test_quiet_hours_move_the_moment_to_their_end(hour: int, local: datetime) -> None:
    moment = rules.send_moment(EXPIRES, -7, hour, "Asia/Ho_Chi_Minh")
    assert moment == (local - timedelta(hours=7)).replace(tzinfo=UTC)


def test_an_unknown_time_zone_reads_as_the_default_one() -> None:
    assert rules.send_moment(EXPIRES, -7, 9, "Mars/Olympus") == rules.send_moment(
        EXPIRES, -7, 9, None
    )


def test_a_round_looks_from_one_day_back_to_one_day_ahead() -> None:
    today = date(2027, 1, 24)
    assert rules.expiry_range(-7, today) == (date(2027, 1, 30), date(2027, 2, 1))
    assert rules.expiry_range(3, today) == (date(2027, 1, 20), date(2027, 1, 22))


def test_a_moment_more_than_a_day_ago_is_missed() -> None:
    now = datetime(2027, 1, 24, 12, tzinfo=UTC)
    assert not rules.missed(now - timedelta(hours=23), now)
    assert rules.missed(now - timedelta(hours=25), now)


def test_upcoming_days_spread_expiries_over_the_steps() -> None:
    today = date(2027, 1, 1)
    counts = [(date(2027, 1, 31), 5), (date(2027, 1, 8), 2)]
    per_day = rules.upcoming_days((-30, -7, -1), counts, today, 30)
    assert per_day[date(2027, 1, 1)] == 7  # 5 at -30, 2 at -7
    assert per_day[date(2027, 1, 7)] == 2
    assert per_day[date(2027, 1, 24)] == 5
    assert per_day[date(2027, 1, 30)] == 5
    assert sum(per_day.values()) == 15 + 4  # 2027-01-08 at -30 falls before today
    assert len(per_day) == 30


def test_the_idempotency_key_names_everything_that_makes_a_reminder_once() -> None:
    assert rules.idempotency_key("renewal", 7, EXPIRES, -7) == "reminder:renewal:7:2027-01-31:-7"


def test_an_expired_subscription_is_reminded_only_after_its_expiry() -> None:
    assert rules.reminded_statuses(-1) == ("active",)
    assert rules.reminded_statuses(3) == ("active", "expired")
    assert "cancelled" not in rules.reminded_statuses(3)
    assert "renewed" not in rules.reminded_statuses(3)
