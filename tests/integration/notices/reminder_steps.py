"""Shared steps of the reminder tests: a renewal type with a schedule, a customer and their
subscription, written through the same use cases as the API."""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal

from flask import Flask
from sqlalchemy import select

from notifier.contacts import subscriptions
from notifier.contacts.subscriptions import ContactKey, Row
from notifier.infra.extensions import db
from notifier.models import Notice, Reminder
from notifier.notices import reminders
from notifier.processes.scheduler import tick
from tests.integration.helpers import committed, make_contact
from tests.integration.test_api_support import renewal_type

SOURCE = "billing"


def renewal_schedule(steps: list[int], hour: int = 9) -> str:
    key = renewal_type()
    with committed():
        reminders.set_schedule(key, steps, hour, False)
    return key


def customer(
    email: str = "an@example.com", ref: str = "KH-001", zone: str = "Asia/Ho_Chi_Minh"
) -> int:
    return make_contact(email, external_ref=ref, name="Nguyễn Văn An", time_zone=zone)


def hold(external_id: str, expires_on: date, status: str = "active", ref: str = "KH-001") -> int:
    fields = {"kind": "hosting", "name": "Hosting Pro", "expires_on": expires_on,
              "status": status, "renewal_url": "https://dcnet.vn/gia-han/KH-001",
              "amount": Decimal(1250000), "currency": "VND"}  # fmt: skip
    with committed():
        sub, _ = subscriptions.upsert(
            SOURCE, Row(1, external_id, ContactKey(external_ref=ref), fields), "test"
        )
        return sub.id


def two_schedulers(app: Flask, now: datetime) -> None:
    """Two scheduler rounds at once, each in its own thread with its own session and
    connection, as two `notifier scheduler` processes would run them."""
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            start.wait()
            try:
                tick(now)
            except BaseException as exc:  # tick logs its tasks' errors; this is anything else
                failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures


def ledger() -> list[tuple[date, int, str, str | None, str | None]]:
    """Every reminder: its expiry date, step, status and reason, and its notice's status."""
    db.session.expire_all()
    rows = db.session.execute(
        select(Reminder.expires_on, Reminder.step, Reminder.status, Notice.status, Notice.reason)
        .outerjoin(Notice, Notice.id == Reminder.notice_id)
        .order_by(Reminder.expires_on, Reminder.step)
    )
    return [(e, s, st, ns, nr) for e, s, st, ns, nr in rows]
