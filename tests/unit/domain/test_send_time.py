"""Sending in each recipient's own time: the wall-clock moment per zone (daylight saving and
half-hour offsets included), the quiet hours, and the profile's quiet-hours settings."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.domain import reminders
from notifier.domain.profile import ProfileError, load_profile
from notifier.domain.send_time import (
    Held,
    QuietHours,
    Release,
    earliest_moment,
    latest_moment,
    local_moment,
    parse_quiet_hours,
    release,
    zone_of,
)
from tests.unit.domain.test_profile import MINIMAL

NIGHT = QuietHours(time(22), time(8))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        ("Asia/Ho_Chi_Minh", datetime(2026, 5, 1, 9), utc(2026, 5, 1, 2)),
        ("Asia/Kolkata", datetime(2026, 5, 1, 9), utc(2026, 5, 1, 3, 30)),  # +05:30
        ("Asia/Kathmandu", datetime(2026, 5, 1, 9), utc(2026, 5, 1, 3, 15)),  # +05:45
        ("Australia/Adelaide", datetime(2026, 1, 15, 9), utc(2026, 1, 14, 22, 30)),  # +10:30 DST
        # New York: EST the day before its spring change, EDT on the day itself
        ("America/New_York", datetime(2026, 3, 7, 9), utc(2026, 3, 7, 14)),
        ("America/New_York", datetime(2026, 3, 8, 9), utc(2026, 3, 8, 13)),
        ("America/New_York", datetime(2026, 11, 1, 9), utc(2026, 11, 1, 14)),  # back to EST
        # Berlin: CET the day before, CEST from 29 March 2026
        ("Europe/Berlin", datetime(2026, 3, 28, 9), utc(2026, 3, 28, 8)),
        ("Europe/Berlin", datetime(2026, 3, 29, 9), utc(2026, 3, 29, 7)),
        ("Europe/Berlin", datetime(2026, 10, 25, 9), utc(2026, 10, 25, 8)),
        # inside New York's spring gap: the moment after it (02:30 EST is 03:30 EDT)
        ("America/New_York", datetime(2026, 3, 8, 2, 30), utc(2026, 3, 8, 7, 30)),
        # Berlin's repeated autumn hour: its first occurrence (CEST)
        ("Europe/Berlin", datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)),
    ],
)
def test_a_wall_clock_time_is_read_in_each_zone(
    zone: str, wall: datetime, expected: datetime
) -> None:
    assert local_moment(wall, ZoneInfo(zone)) == expected


def test_over_one_day_the_earliest_zone_comes_first() -> None:
    wall = datetime(2026, 5, 1, 9)
    zones = ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Ho_Chi_Minh",
             "Pacific/Auckland"]  # fmt: skip
    order = sorted(zones, key=lambda z: local_moment(wall, ZoneInfo(z)))
    assert order == ["Pacific/Auckland", "Asia/Ho_Chi_Minh", "Asia/Kolkata", "Europe/Berlin",
                     "America/New_York"]  # fmt: skip
    # Every zone's moment lies between the first and the last place on Earth to reach it.
    for zone in zones:
        assert earliest_moment(wall) <= local_moment(wall, ZoneInfo(zone)) <= latest_moment(wall)
    assert latest_moment(wall) - earliest_moment(wall) == timedelta(hours=26)


def test_a_moment_waits_for_its_zone_and_a_past_one_leaves_now() -> None:
    wall = datetime(2026, 5, 1, 9)
    now = utc(2026, 5, 1, 4)  # 11:00 in Ho Chi Minh City, 06:00 in Berlin
    assert release(now, ZoneInfo("Asia/Ho_Chi_Minh"), wall) == Release()
    berlin = release(now, ZoneInfo("Europe/Berlin"), wall)
    assert berlin == Release(utc(2026, 5, 1, 7), Held.LOCAL_TIME)
    assert release(now, ZoneInfo("Europe/Berlin")) == Release()  # no wall-clock time: now


@pytest.mark.parametrize(
    ("local", "left"),
    [
        (datetime(2026, 5, 1, 21, 59), datetime(2026, 5, 1, 21, 59)),
        (datetime(2026, 5, 1, 22, 0), datetime(2026, 5, 2, 8, 0)),
        (datetime(2026, 5, 1, 23, 30), datetime(2026, 5, 2, 8, 0)),
        (datetime(2026, 5, 2, 0, 0), datetime(2026, 5, 2, 8, 0)),
        (datetime(2026, 5, 2, 7, 59), datetime(2026, 5, 2, 8, 0)),
        (datetime(2026, 5, 2, 8, 0), datetime(2026, 5, 2, 8, 0)),
    ],
)
def test_quiet_hours_move_a_moment_to_their_end(local: datetime, left: datetime) -> None:
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    assert NIGHT.leave(local.replace(tzinfo=zone)) == left.replace(tzinfo=zone)


def test_a_window_that_does_not_wrap_midnight() -> None:
    lunch = parse_quiet_hours("12:00-13:30")
    zone = ZoneInfo("Asia/Kolkata")
    assert lunch.leave(datetime(2026, 5, 1, 12, 45, tzinfo=zone)) == datetime(
        2026, 5, 1, 13, 30, tzinfo=zone
    )
    assert not lunch.contains(datetime(2026, 5, 1, 13, 30, tzinfo=zone))


def test_quiet_hours_are_local_across_daylight_saving_changes() -> None:
    # 23:00 EDT on 31 October; the night is an hour longer, the end is still 08:00 (EST).
    new_york = ZoneInfo("America/New_York")
    held = release(utc(2026, 11, 1, 3), new_york, quiet=NIGHT)
    assert held == Release(utc(2026, 11, 1, 13), Held.QUIET_HOURS)
    assert held.at is not None and held.at.astimezone(new_york).hour == 8
    # Berlin's spring night is an hour shorter: 08:00 CEST is 06:00 UTC.
    berlin = release(utc(2026, 3, 28, 23), ZoneInfo("Europe/Berlin"), quiet=NIGHT)
    assert berlin == Release(utc(2026, 3, 29, 6), Held.QUIET_HOURS)
    # Half an hour off the hour: 22:10 in Kolkata is 16:40 UTC; 08:00 is 02:30 UTC.
    kolkata = release(utc(2026, 5, 1, 16, 40), ZoneInfo("Asia/Kolkata"), quiet=NIGHT)
    assert kolkata == Release(utc(2026, 5, 2, 2, 30), Held.QUIET_HOURS)


def test_a_local_time_inside_quiet_hours_waits_for_their_end() -> None:
    late = datetime(2026, 5, 1, 23)  # "23:00 local" for advertising under 22:00-08:00
    held = release(utc(2026, 5, 1), ZoneInfo("Asia/Ho_Chi_Minh"), late, NIGHT)
    assert held == Release(utc(2026, 5, 2, 1), Held.QUIET_HOURS)  # 08:00 on 2 May


def test_an_unknown_or_empty_zone_reads_as_the_default() -> None:
    assert zone_of("Mars/Olympus_Mons").key == "Asia/Ho_Chi_Minh"
    assert zone_of("", "Asia/Bangkok").key == "Asia/Bangkok"
    assert zone_of("../../etc/passwd").key == "Asia/Ho_Chi_Minh"


def test_the_reminders_rule_is_the_same_window() -> None:
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    for hour in range(24):
        local = datetime(2026, 5, 1, hour, 30, tzinfo=zone)
        assert reminders.out_of_quiet_hours(local) == QuietHours(time(21), time(8)).leave(local)


@pytest.mark.parametrize(
    "text", ["22-08", "24:00-08:00", "22:00-22:00", "22:00 - 08:00x", "", "22:60-08:00"]
)
def test_a_bad_window_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="22:00"):
        parse_quiet_hours(text)


def _profile(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(MINIMAL.replace('key = "broken"', f'key = "broken"\n{extra}', 1), "utf-8")
    return path


def test_a_profile_asks_for_email_quiet_hours_and_sms_and_phone_always_have_them(
    tmp_path: Path,
) -> None:
    plain = load_profile(_profile(tmp_path, ""))
    assert plain.quiet_hours.email is None
    assert str(plain.quiet_hours.sms) == str(plain.quiet_hours.phone) == "22:00-08:00"
    asked = load_profile(_profile(tmp_path, 'quiet_hours = { email = "21:30-07:00" }'))
    assert asked.quiet_hours.email == QuietHours(time(21, 30), time(7))


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        ('quiet_hours = { email = "late" }', "quiet_hours.email", "like 22:00-08:00"),
        ('quiet_hours = { fax = "22:00-08:00" }', "quiet_hours.fax", "not a channel"),
        ("quiet_hours = { email = 22 }", "quiet_hours.email", "must be a str"),
        ('quiet_hours = "22:00-08:00"', "quiet_hours", "must be a dict"),
        ('default_time_zone = "Asia/Sai_Gon"', "default_time_zone", "not a known time zone"),
    ],
)
def test_a_bad_quiet_hours_setting_stops_start_up(
    tmp_path: Path, extra: str, key: str, problem: str
) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(_profile(tmp_path, extra))
    assert info.value.key == key
    assert problem in info.value.problem
