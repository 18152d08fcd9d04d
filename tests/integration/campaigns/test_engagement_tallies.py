"""The tallies count what counting every event counts: for hypothesis-generated histories of
events (people's and machines', several links, two campaigns, a clock that moves) with folds at
any moment, the campaign counts read from tallies plus the unfolded events equal a count of all
the events; and folds racing each other and the page's reads, on PostgreSQL, neither lose nor
double anything. SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from notifier.campaigns import engagement_tallies as tallies
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import TrackingEvent
from notifier.models.tracking import ALL_LINKS, TrackingFold, TrackingPerson, TrackingTally
from tests.integration.helpers import committed, make_contact, promotion_campaigns

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
Key = tuple[int, str, int]


def _setup(contacts: int) -> tuple[list[int], list[int]]:
    campaign_ids = promotion_campaigns(2)
    return campaign_ids, [make_contact(f"p{n}@example.com") for n in range(contacts)]


def _reset() -> None:
    with committed():
        for model in (TrackingEvent, TrackingPerson, TrackingTally):
            db.session.execute(delete(model))
        tallies.folded_up_to()  # makes the mark's row if it is not there
        db.session.execute(update(TrackingFold).values(last_event_id=0))


def _counted_from_scratch(campaign_ids: list[int]) -> dict[Key, tuple[int, int, int]]:
    """The brute-force reading: every event held, counted in Python."""
    total: dict[Key, int] = defaultdict(int)
    human: dict[Key, int] = defaultdict(int)
    people: dict[Key, set[int]] = defaultdict(set)
    for e in db.session.scalars(select(TrackingEvent)):
        if e.campaign_id not in campaign_ids:
            continue
        key = (e.campaign_id, e.kind, e.link)
        total[key] += 1
        if e.flags == 0:
            human[key] += 1
            people[key].add(e.contact_id)
            people[(e.campaign_id, e.kind, ALL_LINKS)].add(e.contact_id)
    keys = set(total) | set(people)
    counted = {k: (total.get(k, 0), human.get(k, 0), len(people.get(k, ()))) for k in keys}
    return {k: v for k, v in counted.items() if any(v)}


def _tallied(campaign_ids: list[int]) -> dict[Key, tuple[int, int, int]]:
    with unit_of_work():
        found = tallies.tallied(campaign_ids)
    counted = {k: (c.total, c.human, c.people) for k, c in found.items()}
    return {k: v for k, v in counted.items() if any(v)}


# One step of a history: an event (campaign, person, kind, link, flagged) after `seconds`, or a
# fold of the scheduler's at that moment.
EVENT = st.tuples(
    st.just("event"),
    st.integers(0, 1),
    st.integers(0, 3),
    st.sampled_from(("o", "c")),
    st.integers(0, 2),
    st.booleans(),
    st.sampled_from((0, 1, 20, 59, 61, 300)),
)
FOLD = st.tuples(st.just("fold"), st.sampled_from((0, 30, 61, 3600)))


def test_tallies_plus_the_unfolded_events_count_what_counting_every_event_counts(
    app: Flask,
) -> None:
    campaign_ids, people = _setup(4)
    folded_something: list[bool] = []

    @settings(
        max_examples=120,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(st.one_of(EVENT, FOLD), min_size=1, max_size=30))
    def check(history: list[tuple]) -> None:  # type: ignore[type-arg]
        _reset()
        clock = START
        for step in history:
            if step[0] == "event":
                _, campaign, person, kind, link, flagged, seconds = step
                clock += timedelta(seconds=seconds)
                with committed():
                    db.session.add(
                        TrackingEvent(
                            campaign_id=campaign_ids[campaign],
                            contact_id=people[person],
                            kind=kind,
                            link=0 if kind == "o" else link,
                            flags=1 if flagged else 0,
                            at=clock,
                        )
                    )
            else:
                clock += timedelta(seconds=step[1])
                with committed():
                    if tallies.fold(clock, batches=1):
                        folded_something.append(True)
            assert _tallied(campaign_ids) == _counted_from_scratch(campaign_ids)

    check()
    assert folded_something  # the histories did exercise folds, not only the tail


def test_a_fold_takes_only_events_older_than_the_lag(app: Flask) -> None:
    campaign_ids, people = _setup(1)
    _reset()
    now = START
    with committed():
        for seconds in (120, 61, 59, 1):
            db.session.add(
                TrackingEvent(
                    campaign_id=campaign_ids[0],
                    contact_id=people[0],
                    kind="c",
                    link=0,
                    flags=0,
                    at=now - timedelta(seconds=seconds),
                )
            )
    with committed():
        assert tallies.fold(now) == 2
    with committed():
        assert tallies.fold(now) == 0
        mark = tallies.folded_up_to()
    assert mark == min(db.session.scalars(select(TrackingEvent.id))) + 1
    with committed():
        assert tallies.fold(now + timedelta(seconds=60)) == 2
    assert _tallied(campaign_ids) == {
        (campaign_ids[0], "c", 0): (4, 4, 1),
        (campaign_ids[0], "c", ALL_LINKS): (0, 0, 1),
    }


def test_folds_racing_each_other_and_the_pages_lose_and_double_nothing(app: Flask) -> None:
    """One writer records events (as the redirect does, one committed statement each) while
    two threads fold and two read the counts: every read is at most what had been recorded by
    the time it ended, reads never go down, and in the end the tallies equal the count."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer")
    campaign_ids, people = _setup(6)
    _reset()
    stop = threading.Event()
    failures: list[BaseException] = []
    written = [0]

    def in_app(work):  # type: ignore[no-untyped-def]
        def run() -> None:
            try:
                with app.app_context():
                    work()
            except BaseException as error:  # reported by the test below
                failures.append(error)
                stop.set()
            finally:
                with app.app_context():
                    db.session.remove()

        return threading.Thread(target=run)

    def write() -> None:
        for n in range(600):
            with unit_of_work():
                db.session.add(
                    TrackingEvent(
                        campaign_id=campaign_ids[n % 2],
                        contact_id=people[n % 6],
                        kind="oc"[n % 3 == 0],
                        link=n % 2,
                        flags=int(n % 5 == 0),
                        # Old enough to be folded at once: the writer is the only one, so its
                        # ids commit in order and the lag has nothing to guard here.
                        at=START,
                    )
                )
                written[0] = n + 1  # before the commit: never below what is committed
        stop.set()

    folds: list[int] = []

    def fold() -> None:
        while not stop.is_set():
            with unit_of_work():
                folds.append(tallies.fold(START + timedelta(hours=1), batches=1))

    def read() -> None:
        last = 0
        while not stop.is_set():
            with unit_of_work():
                counts = tallies.tallied(campaign_ids)
            recorded = written[0]
            seen = sum(c.total for k, c in counts.items() if k[2] != ALL_LINKS)
            assert last <= seen <= recorded, (last, seen, recorded)
            last = seen

    threads = [in_app(write), in_app(fold), in_app(fold), in_app(read), in_app(read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    assert sum(1 for n in folds if n) > 1  # the folds ran while the events came
    with committed():
        tallies.fold(START + timedelta(hours=1), batches=None)
    assert _tallied(campaign_ids) == _counted_from_scratch(campaign_ids)
    assert db.session.scalar(select(TrackingFold.last_event_id)) == max(
        db.session.scalars(select(TrackingEvent.id))
    )


def test_retiring_drops_only_people_whose_last_event_is_old_and_keeps_the_counts(
    app: Flask,
) -> None:
    campaign_ids, people = _setup(2)
    _reset()
    campaign = campaign_ids[0]

    def click(person: int, at: datetime) -> None:
        with committed():
            db.session.add(
                TrackingEvent(
                    campaign_id=campaign, contact_id=person, kind="c", link=0, flags=0, at=at
                )
            )
        with committed():
            tallies.fold(at + timedelta(hours=1))

    old, recent = START - timedelta(days=100), START - timedelta(days=1)
    click(people[0], old)  # gone quiet
    click(people[1], old)
    click(people[1], recent)  # came back: their row's last event is recent
    before = _tallied(campaign_ids)
    with committed():
        assert tallies.retire(START - timedelta(days=90)) == 1
    remaining = db.session.scalars(select(TrackingPerson.contact_id))
    assert list(remaining) == [people[1]]
    assert (
        _tallied(campaign_ids)
        == before
        == {
            (campaign, "c", 0): (3, 3, 2),
            (campaign, "c", ALL_LINKS): (0, 0, 2),
        }
    )


def test_the_migration_folds_the_events_and_days_held_before_it(app: Flask) -> None:
    """Upgrading a database that has events and rolled-up days: the tallies start from them."""
    from flask_migrate import downgrade, upgrade

    from notifier.models.tracking import TrackingDaily

    campaign_ids, people = _setup(3)
    campaign = campaign_ids[0]
    with committed():
        for person, kind, link, flags in (
            (0, "c", 0, 0), (0, "c", 1, 0), (0, "c", 1, 0), (1, "c", 1, 1), (1, "o", 0, 0),
            (2, "o", 0, 2),
        ):  # fmt: skip
            db.session.add(
                TrackingEvent(
                    campaign_id=campaign,
                    contact_id=people[person],
                    kind=kind,
                    link=link,
                    flags=flags,
                    at=START,
                )
            )
        db.session.add(
            TrackingDaily(
                campaign_id=campaign,
                day=START.date() - timedelta(days=100),
                kind="c",
                link=1,
                total=5,
                human=4,
                unique_human=2,
            )
        )
    directory = app.extensions["migrate"].directory
    downgrade(directory=directory, revision="e3b7d1f9a5c2")
    db.session.remove()
    upgrade(directory=directory)
    assert _tallied([campaign]) == {
        (campaign, "c", 0): (1, 1, 1),
        (campaign, "c", 1): (3 + 5, 2 + 4, 1 + 2),
        (campaign, "c", ALL_LINKS): (0, 0, 1 + 2),
        (campaign, "o", 0): (2, 1, 1),
        (campaign, "o", ALL_LINKS): (0, 0, 1),
    }
    assert db.session.scalar(select(TrackingFold.last_event_id)) == max(
        db.session.scalars(select(TrackingEvent.id))
    )
