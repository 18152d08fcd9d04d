"""The scheduler process: periodic rounds of the tasks that keep the database and queues in step."""

from __future__ import annotations

import heapq
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask

from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models.types import utcnow

log = logging.getLogger(__name__)
Task = Callable[[datetime], object]


def tasks() -> list[Task]:
    from notifier.campaigns import ab_tests, engagement, engagement_tallies, rsvps
    from notifier.campaigns import lifecycle as campaigns
    from notifier.delivery import recovery, relay_probe, system_mail
    from notifier.notices import notices, reminders
    from notifier.privacy import retention, retention_notices
    from notifier.webhooks import sending as webhooks

    return [
        recovery.recover_claims,  # first: the reconciles below re-enqueue what it frees
        campaigns.start_due_campaigns,
        ab_tests.pick_due,  # before the reconcile, which enqueues senders for the rows it frees
        campaigns.reconcile,
        reminders.create_due,  # before the reconcile, which enqueues the notices it makes due
        notices.reconcile_notices,
        retention_notices.create_due,  # before the purge, which waits for what it queues
        rsvps.remind_due,  # its mails are enqueued with their commit
        system_mail.reconcile,
        webhooks.retry_due,
        retention.scheduled_purge,
        engagement_tallies.fold,  # new opens and clicks into the campaigns' tallies
        engagement.roll_up,  # old opens and clicks into daily counts (docs/tracking.md)
        # Last: a silent relay's probe waits out its timeout, and no other task waits for it.
        relay_probe.probe_down_relays,
    ]


def tick(now: datetime) -> None:
    # Each task is a unit of work of its own: it commits once (rolls back if it fails) and
    # enqueues its jobs after that commit; a failing task neither undoes nor stops the others.
    for task in tasks():
        try:
            with unit_of_work():
                task(now)
        except Exception:  # logged; the unit of work has rolled it back
            log.exception("scheduled task %s failed", getattr(task, "__name__", task))
        finally:
            db.session.remove()


class NoticeTimer:
    """Enqueues each notice at its send_at, between the rounds, so none waits for the next one.

    A round's reconcile enqueues the notices already due (and only when the notices queue is
    empty: it cannot tell which are queued). A notice made ahead with a send_at (a reminder,
    an API call with `send_at`) would then leave up to a round interval late, longer while
    notices are queued. Every interval the timer reads the queued notices coming due before
    the interval after next, and wakes at their moments to enqueue them: one query an
    interval, none at the moments. Made since the last read and due already: enqueued at once.

    It runs in a thread of its own (`run`): a round can take seconds (a retention purge, a
    day's reminders), and a notice due meanwhile must not wait for it.
    """

    GAP = 0.02  # seconds: notices due this close together go in one transaction

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.horizon = timedelta(seconds=2 * interval)
        self.after: datetime | None = None
        self.pending: list[tuple[datetime, int]] = []  # a heap: (send_at, notice id)
        self.known: dict[int, datetime] = {}  # pending or enqueued by this timer: their send_at

    def plan(self, read_at: datetime) -> None:
        from notifier.notices import notices

        after = self.after or read_at
        # What is due before `after` cannot be read again: no need to remember it.
        self.known = {i: at for i, at in self.known.items() if at > after}
        with unit_of_work():
            for notice_id, send_at in notices.coming_due(after, read_at + self.horizon):
                if notice_id not in self.known:
                    self.known[notice_id] = send_at
                    heapq.heappush(self.pending, (send_at, notice_id))
        db.session.remove()
        self.after = read_at

    def fire(self, now: datetime) -> int:
        """Enqueue the notices whose moment has come; returns how many."""
        from notifier.notices import notices

        due = []
        while self.pending and self.pending[0][0] <= now:
            due.append(heapq.heappop(self.pending)[1])
        if due:
            with unit_of_work():
                notices.enqueue_notices(due)
            db.session.remove()
        return len(due)

    def seconds_to_next(self, now: datetime) -> float | None:
        if not self.pending:
            return None
        return max(self.GAP, (self.pending[0][0] - now).total_seconds())

    def run(self, app: Flask, stopping: threading.Event) -> None:
        """The timer thread's loop: read every interval, enqueue at each moment."""
        with app.app_context():
            next_read = time.monotonic()
            while not stopping.is_set():
                if time.monotonic() >= next_read:
                    next_read = time.monotonic() + self.interval
                    _guarded(self.plan, utcnow())
                _guarded(self.fire, utcnow())
                until_read = max(0.0, next_read - time.monotonic())
                to_next = self.seconds_to_next(utcnow())
                stopping.wait(until_read if to_next is None else min(to_next, until_read))


def run_scheduler(app: Flask, once: bool = False, interval: float = 5.0) -> None:
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()  # wakes the waits below at once

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with app.app_context():
        if once:
            tick(utcnow())
            return
    # The rounds and the timer import the use cases lazily. Imported here, before the timer
    # starts, they are never imported by two threads at once, which can leave one thread a
    # partly initialised module ("cannot import name ... from partially initialized module").
    tasks()
    timer = threading.Thread(
        target=NoticeTimer(interval).run, args=(app, stopping), name="notice-timer", daemon=True
    )
    timer.start()
    with app.app_context():
        while not stopping.is_set():
            tick(utcnow())
            stopping.wait(interval)
    timer.join(10)


def _guarded(step: Callable[[datetime], object], now: datetime) -> None:
    """The timer is an optimisation: a failure is logged and the rounds go on (their reconcile
    enqueues what the timer did not)."""
    try:
        step(now)
    except Exception:
        log.exception("the notice timer's %s failed", step.__name__)
        db.session.remove()
