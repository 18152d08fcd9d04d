"""The scheduler process: periodic rounds of the tasks that keep the database and queues in step."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime

from flask import Flask

from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models.types import utcnow

log = logging.getLogger(__name__)
Task = Callable[[datetime], object]


def tasks() -> list[Task]:
    from notifier.campaigns import lifecycle as campaigns
    from notifier.campaigns import rsvps
    from notifier.delivery import recovery, system_mail
    from notifier.notices import notices, reminders
    from notifier.privacy import retention
    from notifier.webhooks import sending as webhooks

    return [
        recovery.recover_claims,  # first: the reconciles below re-enqueue what it frees
        campaigns.start_due_campaigns,
        campaigns.reconcile,
        reminders.create_due,  # before the reconcile, which enqueues the notices it makes due
        notices.reconcile_notices,
        rsvps.remind_due,  # its mails are enqueued with their commit
        system_mail.reconcile,
        webhooks.retry_due,
        retention.scheduled_purge,
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


def run_scheduler(app: Flask, once: bool = False, interval: float = 5.0) -> None:
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()  # wakes the wait below at once

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with app.app_context():
        while not stopping.is_set():
            tick(utcnow())
            if once:
                return
            stopping.wait(interval)
