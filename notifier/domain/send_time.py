"""When a message may leave in its recipient's own time: a wall-clock time read in each
recipient's time zone ("09:00 local"), and quiet hours that move advertising out of the night.

Pure rules: the caller reads the clock and passes `now` (aware, UTC). Local times are built with
`datetime.combine(..., tzinfo=zone)`, never by adding hours, so daylight-saving days are right: a
wall-clock time inside a spring-forward gap reads as the moment after the gap (02:30 in New York
on its spring day is 03:30 EDT), one in the repeated autumn hour as its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"
# The first place on Earth where a wall-clock time comes (Pacific/Kiritimati, UTC+14): a campaign
# sent at a local time starts then, and each recipient waits in the ledger for their own moment.
EARLIEST = timezone(timedelta(hours=14))
LATEST = timezone(timedelta(hours=-12))  # the last place it comes (UTC-12)
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class Held:
    """Why a delivery waits (its `reason` while deferred, labelled in both languages)."""

    LOCAL_TIME = "local_time"  # the campaign's wall-clock time has not come in the person's zone
    QUIET_HOURS = "quiet_hours"  # advertising, and it is night where the person is


def zone_of(name: str | None, fallback: str = DEFAULT_ZONE) -> ZoneInfo:
    """The contact's zone; an empty or unknown one reads as the profile's default."""
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


@dataclass(frozen=True)
class QuietHours:
    """A daily window of local time, from `start` up to (not including) `end`; it may wrap past
    midnight (22:00-08:00)."""

    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        wall = local.time()
        if self.start > self.end:
            return wall >= self.start or wall < self.end
        return self.start <= wall < self.end

    def leave(self, local: datetime) -> datetime:
        """`local` itself, or the end of the window it falls in (same zone)."""
        if not self.contains(local):
            return local
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)
        return datetime.combine(day, self.end, local.tzinfo)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_quiet_hours(text: str) -> QuietHours:
    """ "22:00-08:00" as a window; ValueError says what is wrong."""
    match = _WINDOW.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a window like 22:00-08:00")
    start = time(int(match[1]), int(match[2]))
    end = time(int(match[3]), int(match[4]))
    if start == end:
        raise ValueError(f"{text!r} starts and ends at the same time")
    return QuietHours(start, end)


def local_moment(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time read in `zone`, in UTC."""
    return wall.replace(tzinfo=zone).astimezone(UTC)


def earliest_moment(wall: datetime) -> datetime:
    """When `wall` first comes anywhere (UTC+14), in UTC: a local-time campaign starts then."""
    return wall.replace(tzinfo=EARLIEST).astimezone(UTC)


def latest_moment(wall: datetime) -> datetime:
    """When `wall` last comes anywhere (UTC-12), in UTC: after it, the time is past everywhere."""
    return wall.replace(tzinfo=LATEST).astimezone(UTC)


@dataclass(frozen=True)
class Release:
    """When a delivery may be claimed: now (`at` None), or at `at` for `reason`."""

    at: datetime | None = None
    reason: str | None = None


def release(
    now: datetime, zone: ZoneInfo, wall: datetime | None = None, quiet: QuietHours | None = None
) -> Release:
    """The moment a recipient in `zone` may be sent to: the campaign's wall-clock time `wall`
    in their zone (now if it has passed or there is none), moved out of `quiet` hours."""
    moment, reason = now, None
    if wall is not None:
        wanted = local_moment(wall, zone)
        if wanted > now:
            moment, reason = wanted, Held.LOCAL_TIME
    if quiet is not None:
        out = quiet.leave(moment.astimezone(zone)).astimezone(UTC)
        if out > moment:
            moment, reason = out, Held.QUIET_HOURS
    return Release(moment, reason) if reason else Release()
