"""Running tallies of the opens and clicks, so a campaign's counts do not grow with its events.

Counting a campaign's events on each page view reads every one of them: 1.3 s for a campaign
with 1,290,000 events, ten times that with ten million (bench/tracking_redirect.py). Instead the
scheduler folds the events recorded since its last round into per-campaign tallies
(tracking_tallies: totals per kind and link, and the people counted) and remembers the highest
event id it folded (tracking_fold). A page reads the tallies plus the events above that mark:
the same numbers as counting everything, read in time that depends on the number of campaigns
and links, and on the events of the last minute or so, not on all of them.

The people counted (distinct persons per link, and per kind across links) need to know who was
counted before: tracking_people keeps one row per campaign, kind, person and link. It names the
person, so it goes with them at erasure, and a row whose last event is past the retention
period is dropped at the daily roll-up; the tallies themselves name nobody and stay.

Why the fold stays FOLD_LAG behind the newest event: an event's id is taken when its INSERT
starts and becomes visible when it commits. Folding up to the newest visible id could step
over an id still being committed, which would then be above nobody's mark and counted by
nobody. An event's INSERT commits within milliseconds (one statement, campaigns/tracking_events);
the fold takes only ids older than FOLD_LAG, a margin of thousands of times that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from notifier.infra.extensions import db
from notifier.models.tracking import (
    ALL_LINKS,
    TrackingEvent,
    TrackingFold,
    TrackingPerson,
    TrackingTally,
)

FOLD_LAG = timedelta(seconds=60)
# Events per statement of a fold: a scheduler round stays short after a long pause (a stopped
# scheduler, a benchmark), and several rounds catch up.
BATCH = 200_000
BATCHES_PER_ROUND = 10
MARK = 1  # tracking_fold's one row


@dataclass
class Count:
    """One (kind, link) of a campaign: events, people's events, people counted."""

    total: int = 0
    human: int = 0
    people: int = 0

    def add(self, total: int, human: int, people: int) -> None:
        self.total += int(total or 0)
        self.human += int(human or 0)
        self.people += int(people or 0)


Counts = dict[tuple[int, str, int], Count]  # (campaign, kind, link); link ALL_LINKS: people only


def _insert(model: Any) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _later(a: Any, b: Any) -> Any:
    """The later of two times, in SQL (SQLite's two-argument max is its greatest)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.greatest(a, b)
    return func.max(a, b)


def folded_up_to(for_update: bool = False) -> int:
    """The fold's mark. A reader holds it shared (FOR SHARE on PostgreSQL) so that a fold
    cannot commit between its read of the tallies and of the events above the mark; on SQLite
    the read transaction's snapshot does the same."""
    query = select(TrackingFold.last_event_id).where(TrackingFold.id == MARK)
    query = query.with_for_update(read=not for_update)
    mark = db.session.scalar(query)
    if mark is None:  # a database made before the migration wrote the row
        row = _insert(TrackingFold).values(id=MARK, last_event_id=0)
        db.session.execute(row.on_conflict_do_nothing())
        return folded_up_to(for_update)
    return int(mark)


def _newcomers(
    where: Sequence[ColumnElement[bool]], per_link: bool
) -> Iterable[tuple[int, str, int, int]]:
    """(campaign, kind, link, people) among the events `where` selects: the people with an
    unflagged event there who are not yet in tracking_people for it (per link, or for the kind
    across links: link ALL_LINKS)."""
    event, person = TrackingEvent, TrackingPerson
    same = [
        person.campaign_id == event.campaign_id,
        person.kind == event.kind,
        person.contact_id == event.contact_id,
    ]
    keys: list[Any] = [event.campaign_id, event.kind]
    if per_link:
        same.append(person.link == event.link)
        keys.append(event.link)
    rows = db.session.execute(
        select(*keys, func.count(func.distinct(event.contact_id)))
        .where(*where, event.flags == 0, ~exists().where(*same))
        .group_by(*keys)
    )
    for row in rows:
        if per_link:
            yield int(row[0]), str(row[1]), int(row[2]), int(row[3])
        else:
            yield int(row[0]), str(row[1]), ALL_LINKS, int(row[2])


def event_counts(where: Sequence[ColumnElement[bool]]) -> Counts:
    """The events `where` selects counted as the tallies count them: per (campaign, kind,
    link) events and people's events, and the people not counted before."""
    event = TrackingEvent
    counts: Counts = {}
    for campaign_id, kind, link, every, human in db.session.execute(
        select(
            event.campaign_id,
            event.kind,
            event.link,
            func.count(),
            func.count().filter(event.flags == 0),
        )
        .where(*where)
        .group_by(event.campaign_id, event.kind, event.link)
    ):
        counts.setdefault((campaign_id, kind, link), Count()).add(every, human, 0)
    for per_link in (True, False):
        for campaign_id, kind, link, people in _newcomers(where, per_link):
            counts.setdefault((campaign_id, kind, link), Count()).add(0, 0, people)
    return counts


def tallied(campaign_ids: Sequence[int]) -> Counts:
    """The campaigns' counts: their tallies plus their events above the fold's mark. Call it
    in the request's transaction (it holds the mark shared until that ends)."""
    mark = folded_up_to()
    counts: Counts = {}
    for row in db.session.execute(
        select(TrackingTally).where(TrackingTally.campaign_id.in_(campaign_ids))
    ).scalars():
        counts.setdefault((row.campaign_id, row.kind, row.link), Count()).add(
            row.total, row.human, row.people
        )
    tail = event_counts([TrackingEvent.campaign_id.in_(campaign_ids), TrackingEvent.id > mark])
    for key, count in tail.items():
        counts.setdefault(key, Count()).add(count.total, count.human, count.people)
    return counts


def fold(now: datetime, batches: int | None = BATCHES_PER_ROUND) -> int:
    """Fold the events older than FOLD_LAG above the mark into the tallies, BATCH ids at a
    time, at most `batches` of them (None: all); returns how many events it folded. One fold
    at a time: it holds the mark FOR UPDATE until its transaction ends."""
    folded = 0
    mark = folded_up_to(for_update=True)
    newest = db.session.scalar(
        select(func.max(TrackingEvent.id)).where(
            TrackingEvent.id > mark, TrackingEvent.at < now - FOLD_LAG
        )
    )
    while newest is not None and mark < newest and (batches is None or batches > 0):
        upper = min(newest, mark + BATCH)
        where = [TrackingEvent.id > mark, TrackingEvent.id <= upper]
        counts = event_counts(where)  # before the people are added below
        _add_people(where)
        _add_tallies(counts)
        folded += sum(c.total for c in counts.values())
        mark = upper
        batches = None if batches is None else batches - 1
    db.session.execute(
        update(TrackingFold).where(TrackingFold.id == MARK).values(last_event_id=mark)
    )
    return folded


def _add_people(where: Sequence[ColumnElement[bool]]) -> None:
    event = TrackingEvent
    rows = (
        select(event.campaign_id, event.kind, event.contact_id, event.link, func.max(event.at))
        .where(*where, event.flags == 0)
        .group_by(event.campaign_id, event.kind, event.contact_id, event.link)
    )
    statement = _insert(TrackingPerson).from_select(
        ["campaign_id", "kind", "contact_id", "link", "last_at"], rows
    )
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id", "kind", "contact_id", "link"],
            set_={"last_at": _later(TrackingPerson.last_at, statement.excluded.last_at)},
        )
    )


def _add_tallies(counts: Counts) -> None:
    table = TrackingTally.__table__
    for (campaign_id, kind, link), count in sorted(counts.items()):
        statement = _insert(TrackingTally).values(
            campaign_id=campaign_id,
            kind=kind,
            link=link,
            total=count.total,
            human=count.human,
            people=count.people,
        )
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["campaign_id", "kind", "link"],
                set_={
                    name: table.c[name] + statement.excluded[name]
                    for name in ("total", "human", "people")
                },
            )
        )


def retire(cutoff: datetime) -> int:
    """Drop who-was-counted rows whose person's last event of it is older than `cutoff` (the
    retention period): the tallies keep the counts. Should that person come back, they are
    counted again (docs/tracking.md, "Tallies")."""
    result = db.session.execute(
        delete(TrackingPerson).where(TrackingPerson.last_at < cutoff),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def erase_contact(contact_id: int) -> int:
    result = db.session.execute(
        delete(TrackingPerson).where(TrackingPerson.contact_id == contact_id),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
