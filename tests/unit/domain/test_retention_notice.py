"""The retention notice's pure rules (docs/automations.md) and its profile setting."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from notifier.domain import retention_notice as rules
from notifier.domain.profile import ProfileError, Retention, load_profile
from tests.unit.domain.test_profile import MINIMAL, shipped

END = date(2027, 5, 10)


def test_the_notice_leaves_on_the_end_day_at_nine_local() -> None:
    assert rules.moment(END, "Asia/Ho_Chi_Minh") == datetime(2027, 5, 10, 2, tzinfo=UTC)
    assert rules.moment(END, "America/New_York") == datetime(2027, 5, 10, 13, tzinfo=UTC)
    assert rules.moment(END, "Mars/Olympus") == rules.moment(END, "Asia/Ho_Chi_Minh")
    assert not rules.due(END, "Asia/Ho_Chi_Minh", datetime(2027, 5, 10, 0, 59, tzinfo=UTC))
    assert rules.due(END, "Asia/Ho_Chi_Minh", datetime(2027, 5, 10, 2, tzinfo=UTC))


def test_the_moment_is_never_in_the_quiet_hours() -> None:
    # Every zone from UTC-12 to UTC+14: the local hour is 09:00, between 08:00 and 21:00.
    for zone in ("Etc/GMT+12", "Pacific/Honolulu", "Europe/London", "Pacific/Kiritimati"):
        local = rules.moment(END, zone).astimezone(rules.zone_of(zone))
        assert local.date() == END and 8 <= local.hour < 21


def test_a_notice_more_than_a_day_late_is_missed() -> None:
    moment = rules.moment(END, "Asia/Ho_Chi_Minh")
    assert not rules.too_late(END, "Asia/Ho_Chi_Minh", moment.replace(hour=23))
    assert rules.too_late(END, "Asia/Ho_Chi_Minh", datetime(2027, 5, 11, 2, 1, tzinfo=UTC))


def test_a_round_looks_a_day_back_and_a_day_ahead() -> None:
    assert rules.end_range(END) == (date(2027, 5, 9), date(2027, 5, 11))
    # An end date before the range is missed anyway, even at the earliest hour of the UTC day
    # in the westernmost zone: the range loses no notice.
    midnight = datetime(2027, 5, 10, tzinfo=UTC)
    assert rules.too_late(date(2027, 5, 8), "Etc/GMT+12", midnight)
    assert not rules.too_late(date(2027, 5, 9), "Etc/GMT+12", midnight)


def test_the_erasure_day_is_the_day_the_purge_erases() -> None:
    on_time = datetime(2027, 5, 10, 2, tzinfo=UTC)
    assert rules.planned_erasure(END, 0) == date(2027, 5, 11)  # the day after the end day
    assert rules.erasure_day(END, 0, "Asia/Ho_Chi_Minh", on_time) == date(2027, 5, 11)
    assert rules.erasure_day(END, 30, "Asia/Ho_Chi_Minh", on_time) == date(2027, 6, 10)
    # Told late (the scheduler was down): the purge erases right after, that day.
    late = datetime(2027, 5, 11, 1, tzinfo=UTC)
    assert rules.erasure_day(END, 0, "Asia/Ho_Chi_Minh", late) == date(2027, 5, 11)
    later = datetime(2027, 5, 11, 20, tzinfo=UTC)  # 03:00 on the 12th in Vietnam
    assert rules.erasure_day(END, 0, "Asia/Ho_Chi_Minh", later) == date(2027, 5, 12)


def test_the_notice_is_on_for_contract_end_profiles_only() -> None:
    assert shipped("dcnet").retention.notify is True
    assert shipped("caycanhhoanggia").retention.notify is False


def load(tmp_path: Path, retention: str) -> Retention:
    assert MINIMAL.count('rule = "on_request"') == 1
    path = tmp_path / "profile.toml"
    path.write_text(MINIMAL.replace('rule = "on_request"', retention), encoding="utf-8")
    return load_profile(path).retention


def test_notify_defaults_to_the_rule(tmp_path: Path) -> None:
    ends = load(tmp_path, 'rule = "contract_end"')
    assert ends.notify is True
    off = load(tmp_path, 'rule = "contract_end"\nnotify = false')
    assert off.notify is False


@pytest.mark.parametrize(
    ("retention", "key", "problem"),
    [
        ('rule = "on_request"\nnotify = true', "retention.notify", "only the contract_end rule"),
        ('rule = "contract_end"\nnotify = "yes"', "retention.notify", "must be a bool"),
        ('rule = "contract_end"\ngrace_days = -1', "retention.grace_days", "0 or more"),
    ],
)
def test_a_bad_notify_setting_is_refused_with_its_key(
    tmp_path: Path, retention: str, key: str, problem: str
) -> None:
    with pytest.raises(ProfileError) as info:
        load(tmp_path, retention)
    assert info.value.key == key and problem in info.value.problem
