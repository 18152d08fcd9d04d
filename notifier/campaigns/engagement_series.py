"""A campaign's opens and clicks over time: per hour for its first 48 hours, then per day.

One query per series (opens, clicks), grouped in SQL, read from the index on (campaign, kind,
time, flags, contact) alone; one more for the daily counts the roll-up left. Hours are UTC
hours (a page shows them in the profile's zone), days are UTC days, as the roll-up keeps them.
docs/tracking.md, "Charts over time".
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, literal_column, select

from notifier.campaigns import lifecycle as campaigns
from notifier.domain.tokens import CLICK, OPEN
from notifier.infra.extensions import db
from notifier.models import Campaign
from notifier.models.tracking import TrackingDaily, TrackingEvent
from notifier.operations.access import Access

HOURLY_SPAN = timedelta(hours=48)
# A daily chart stretches to today only this long after the hourly span (a quiet old campaign
# does not grow a bar a day for ever); past it, it ends at the last day with events.
DAILY_TAIL = 62
HOUR, DAY = "h", "d"


@dataclass(frozen=True)
class Bucket:
    start: datetime  # aware UTC: the hour, or the day's midnight
    people: int  # people with an unflagged event (after the roll-up: per day and link, summed)
    human: int  # people's events
    machine: int  # events flagged as a scanner's or Apple's proxy

    @property
    def total(self) -> int:
        return self.human + self.machine


@dataclass(frozen=True)
class Series:
    kind: str  # OPEN or CLICK
    hours: tuple[Bucket, ...]
    days: tuple[Bucket, ...]


@dataclass(frozen=True)
class OverTime:
    start: datetime  # the first hour of the campaign (UTC)
    opens: Series
    clicks: Series
    # Some of the first 48 hours exist only as daily counts now (rolled up): shown per day.
    hours_rolled_up: bool


def _truncated(column: Any, unit: str) -> Any:
    """The hour or day an event falls in, on either database (UTC is stored naive)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour" if unit == HOUR else "day", column)
    return func.strftime("%Y-%m-%d %H:00:00" if unit == HOUR else "%Y-%m-%d 00:00:00", column)


def _moment(value: datetime | date | str) -> datetime:
    if isinstance(value, str):  # SQLite's strftime
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=UTC)


def campaign_start(campaign: Campaign) -> datetime:
    """The hour the campaign began to send: its send time, once scheduled."""
    moment = campaign.send_at or campaign.created_at
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def series_statement(campaign_id: int, kind: str, end: datetime) -> Select[Any]:
    """One series: the events before `end` per hour, the later ones per day (bench/ and a test
    read its plan: an index-only scan of ix_tracking_events_campaign)."""
    at = TrackingEvent.at
    human = TrackingEvent.flags == 0
    unit = case((at < end, literal_column(f"'{HOUR}'")), else_=literal_column(f"'{DAY}'"))
    bucket = case((at < end, _truncated(at, HOUR)), else_=_truncated(at, DAY))
    return (
        select(
            unit.label("unit"),
            bucket.label("bucket"),
            func.count(func.distinct(TrackingEvent.contact_id)).filter(human),
            func.count().filter(human),
            func.count(),
        )
        .where(TrackingEvent.campaign_id == campaign_id, TrackingEvent.kind == kind)
        # By the output names: the same CASE written twice would be two expressions to the
        # server (its bound time is a parameter each time).
        .group_by(literal_column("unit"), literal_column("bucket"))
    )


def _grouped(campaign_id: int, kind: str, end: datetime) -> dict[tuple[str, datetime], Bucket]:
    rows = db.session.execute(series_statement(campaign_id, kind, end))
    return {
        (u, _moment(b)): Bucket(_moment(b), people, humans, every - humans)
        for u, b, people, humans, every in rows
    }


def _rolled_up(campaign_id: int) -> dict[tuple[str, datetime], Bucket]:
    rows = db.session.execute(
        select(
            TrackingDaily.kind,
            TrackingDaily.day,
            func.sum(TrackingDaily.unique_human),
            func.sum(TrackingDaily.human),
            func.sum(TrackingDaily.total),
        )
        .where(TrackingDaily.campaign_id == campaign_id)
        .group_by(TrackingDaily.kind, TrackingDaily.day)
    )
    return {
        (kind, _moment(day)): Bucket(_moment(day), int(p), int(h), int(t) - int(h))
        for kind, day, p, h, t in rows
    }


def _add(a: Bucket | None, b: Bucket) -> Bucket:
    if a is None:
        return b
    return Bucket(b.start, a.people + b.people, a.human + b.human, a.machine + b.machine)


def _filled(
    found: dict[datetime, Bucket], first: datetime, last: datetime, step: timedelta
) -> tuple[Bucket, ...]:
    """Every bucket from first to last, the ones without events as zeros."""
    out, moment = [], first
    while moment <= last:
        out.append(found.get(moment) or Bucket(moment, 0, 0, 0))
        moment += step
    return tuple(out)


def over_time(campaign: Campaign, now: datetime) -> OverTime:
    start = campaign_start(campaign)
    end = start + HOURLY_SPAN
    rolled = _rolled_up(campaign.id)
    this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    today = _moment(this_hour.date())
    series = {}
    for kind in (OPEN, CLICK):
        grouped = _grouped(campaign.id, kind, end)
        hours = {m: b for (u, m), b in grouped.items() if u == HOUR}
        days: dict[datetime, Bucket] = {m: b for (u, m), b in grouped.items() if u == DAY}
        for (k, day), bucket in rolled.items():
            if k == kind:
                days[day] = _add(days.get(day), bucket)
        first_hour = min([start, *hours])
        last_hour = max([min(end - timedelta(hours=1), this_hour), *hours])
        hourly = _filled(hours, first_hour, last_hour, timedelta(hours=1))
        series[kind] = Series(kind, hourly, _days(days, end, today))
    return OverTime(
        start=start,
        opens=series[OPEN],
        clicks=series[CLICK],
        hours_rolled_up=any(day < end for _, day in rolled),
    )


def _days(days: dict[datetime, Bucket], end: datetime, today: datetime) -> tuple[Bucket, ...]:
    """Every day from the one the hourly span ends in (or the first rolled-up day) to the last
    day with events, or to today while the campaign is recent."""
    first_day = _moment(end.date())
    if not days and today < first_day:
        return ()
    first = min([first_day, *days])
    last = max([*days, min(today, first_day + timedelta(days=DAILY_TAIL))])
    return _filled(days, first, last, timedelta(days=1))


def campaign_over_time(access: Access, campaign_id: int, now: datetime) -> OverTime:
    access.require("campaigns.view")
    return over_time(campaigns.get_campaign(campaign_id), now)


def over_time_csv(access: Access, campaign_id: int, now: datetime) -> str:
    """One row per series, granularity and bucket: counts only, no person named. Every cell is
    a number, a fixed word or a time the product wrote: nothing a spreadsheet could run."""
    series = campaign_over_time(access, campaign_id, now)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["series", "granularity", "start_utc", "people", "human", "machine", "total"])
    for name, one in (("opens", series.opens), ("clicks", series.clicks)):
        for granularity, buckets in (("hour", one.hours), ("day", one.days)):
            for b in buckets:
                when = b.start.isoformat() if granularity == "hour" else b.start.date().isoformat()
                writer.writerow([name, granularity, when, b.people, b.human, b.machine, b.total])
    return out.getvalue()
