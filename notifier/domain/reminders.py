"""Renewal reminder schedules, the pure rules: which steps a schedule may hold, which expiry
dates a round looks at for a step, and the moment a reminder leaves.

A step is a signed number of days relative to a subscription's expiry date (-30: thirty days
before, 3: three days after). A reminder is sent on that day at the schedule's local hour in
the contact's time zone, moved out of the quiet hours. No I/O: the caller reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.domain.errors import ValidationFailed
from notifier.domain.send_time import QuietHours
from notifier.domain.subscriptions import SubscriptionStatus

MIN_STEP, MAX_STEP = -365, 90  # a year ahead at most; a reminder after expiry within 3 months
MAX_STEPS = 10
DEFAULT_STEPS = (-30, -7, -1, 3)
DEFAULT_HOUR = 9
# Quiet hours, local: nobody gets a reminder from 21:00 to 08:00 in their own time zone.
QUIET_FROM, QUIET_UNTIL = 21, 8
QUIET_HOURS = QuietHours(time(QUIET_FROM), time(QUIET_UNTIL))  # the window rule of send_time.py
# The catch-up rule: a reminder whose moment passed more than this long ago when it is first
# seen (a subscription told to us late, a scheduler that was down) is missed, never sent late.
CATCH_UP = timedelta(days=1)
# Rows are made this far ahead of their day, so each already has its send moment when it comes,
# whatever the contact's time zone (local dates are at most 14 hours from UTC).
LOOK_AHEAD = timedelta(days=1)
FALLBACK_ZONE = "Asia/Ho_Chi_Minh"


class Cancel:
    """Why a reminder no longer goes out (a notice's `reason`, labelled in both languages)."""

    RENEWED = "renewed"  # billing told us of a new expiry date or a renewal
    CANCELLED = "subscription_cancelled"  # the subscription was cancelled or has expired
    MISSED = "reminder_missed"  # its moment passed too long ago (CATCH_UP)


@dataclass(frozen=True)
class Schedule:
    steps: tuple[int, ...]
    local_hour: int = DEFAULT_HOUR
    paused: bool = False


def check_schedule(steps: object, local_hour: object, paused: object = False) -> Schedule:
    """Every problem of a schedule's values, by field, or the schedule (steps sorted)."""
    problems: dict[str, str] = {}
    if not isinstance(steps, list | tuple) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in steps
    ):
        problems["steps"] = "must be a list of whole numbers of days, e.g. [-30, -7, -1, 3]"
    elif not steps:
        problems["steps"] = "needs at least one step"
    elif len(steps) > MAX_STEPS:
        problems["steps"] = f"holds at most {MAX_STEPS} steps"
    elif len(set(steps)) != len(steps):
        problems["steps"] = "holds a day twice"
    elif any(not MIN_STEP <= s <= MAX_STEP for s in steps):
        problems["steps"] = f"each day must be from {MIN_STEP} to {MAX_STEP}"
    if not isinstance(local_hour, int) or isinstance(local_hour, bool) or not 0 <= local_hour <= 23:
        problems["local_hour"] = "must be a whole hour from 0 to 23"
    if not isinstance(paused, bool):
        problems["paused"] = "must be true or false"
    if problems:
        raise ValidationFailed(problems)
    assert isinstance(steps, list | tuple) and isinstance(local_hour, int)
    return Schedule(tuple(sorted(steps)), local_hour, bool(paused))


def parse_steps(text: str) -> list[int] | str:
    """A form's "-30, -7, -1, +3" as numbers, or the text back when a part is not one."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        return [int(p) for p in parts]
    except ValueError:
        return text


def expiry_range(step: int, today: date) -> tuple[date, date]:
    """The expiry dates whose reminder for `step` a round on UTC date `today` creates: its day
    from CATCH_UP ago to LOOK_AHEAD ahead. A plain range, so the query uses the index."""
    first = today - timedelta(days=step) - CATCH_UP
    return first, today - timedelta(days=step) + LOOK_AHEAD


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or FALLBACK_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(FALLBACK_ZONE)


def out_of_quiet_hours(local: datetime) -> datetime:
    """The moment itself, or the end of the quiet hours it falls in (08:00 local)."""
    return QUIET_HOURS.leave(local)


def send_moment(expires_on: date, step: int, local_hour: int, time_zone: str | None) -> datetime:
    """When the reminder for `step` leaves, in UTC: its day at the local hour, out of quiet
    hours, in the contact's time zone (an unknown zone reads as the default one)."""
    day = expires_on + timedelta(days=step)
    local = datetime.combine(day, time(local_hour), zone_of(time_zone))
    return out_of_quiet_hours(local).astimezone(UTC)


def missed(moment: datetime, now: datetime) -> bool:
    return moment < now - CATCH_UP


def upcoming_days(
    steps: Iterable[int], counts: Sequence[tuple[date, int]], today: date, days: int
) -> dict[date, int]:
    """Reminders per day for `days` days from `today`, from expiry dates and how many active
    subscriptions expire on each: the admin page's outlook (one query, then this)."""
    per_day: dict[date, int] = {today + timedelta(days=n): 0 for n in range(days)}
    for step in steps:
        for expires_on, count in counts:
            day = expires_on + timedelta(days=step)
            if day in per_day:
                per_day[day] += count
    return per_day


def reminded_statuses(step: int) -> tuple[str, ...]:
    """Who a step reminds: an active subscription on every step; an expired one (not renewed in
    time) only after its expiry date, which is what a +3 reminder is for. Renewed and cancelled
    ones get none."""
    if step > 0:
        return (SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED)
    return (SubscriptionStatus.ACTIVE,)


def idempotency_key(type_key: str, subscription_id: int, expires_on: date, step: int) -> str:
    """One notice per (type, subscription, expiry date, step), whoever creates it."""
    return f"reminder:{type_key}:{subscription_id}:{expires_on.isoformat()}:{step}"
