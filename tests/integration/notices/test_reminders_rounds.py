"""The reminders round against the real database: set-based, once per step however many
rounds race, cancelled by a renewal through any write path, checked again at send time, told
to webhook endpoints when sent, and not made while its schedule is paused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import time_machine
from flask import Flask
from sqlalchemy import func, select, update

from notifier.contacts import subscriptions
from notifier.contacts.subscriptions import ContactKey, Row
from notifier.domain.reminders import Cancel
from notifier.infra.extensions import db
from notifier.models import Notice, NoticeStatus, Reminder, Subscription
from notifier.notices import notices, reminders
from tests.integration.helpers import committed, drain
from tests.integration.notices.reminder_steps import (
    SOURCE,
    customer,
    hold,
    ledger,
    renewal_schedule,
    two_schedulers,
)
from tests.integration.test_api_support import smtp
from tests.integration.webhooks.test_webhooks import receiver, subscribe
from tests.smtp_server import SmtpTestServer
from tests.webhook_receiver import Receiver

__all__ = ["receiver", "smtp"]  # fixtures
NOW = datetime(2027, 3, 1, 3, tzinfo=UTC)  # 10:00 in Hanoi
EXPIRES = date(2027, 3, 8)  # its -7 is today


def count(model: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]


def due(now: datetime) -> None:
    """A round's two tasks for reminders: make them, then enqueue the due notices."""
    with committed():
        reminders.create_due(now)
    with committed():
        notices.reconcile_notices(now)


def test_racing_rounds_make_each_reminder_and_notice_once(app: Flask) -> None:
    renewal_schedule([-30, -7, -1])
    customer()
    with committed():
        rows = [
            Row(n, f"D-{n}", ContactKey(external_ref="KH-001"),
                {"kind": "domain", "name": f"d{n}.vn", "amount": Decimal(100), "currency": "VND",
                 "expires_on": EXPIRES + timedelta(days=n % 3 - 1)})
            for n in range(300)
        ]  # fmt: skip
        subscriptions.bulk_upsert(SOURCE, rows, "test")
    with time_machine.travel(NOW, tick=False):
        for _ in range(3):
            two_schedulers(app, NOW)
    # The -7 of expiries from 2027-03-07 to 2027-03-09 (a day back, a day ahead): all 300;
    # the 100 of 2027-03-07 had their moment 25 hours ago (02:00 UTC yesterday): missed.
    assert count(Reminder) == 300
    assert count(Notice) == 200
    assert db.session.scalar(select(func.count(func.distinct(Reminder.notice_id)))) == 200
    assert set(db.session.scalars(select(Reminder.step))) == {-7}
    missed = select(func.count()).where(Reminder.reason == Cancel.MISSED)
    assert db.session.scalar(missed) == 100


def test_a_bulk_renewal_cancels_the_old_dates_reminders_and_skips_their_notices(
    app: Flask,
) -> None:
    renewal_schedule([-7])
    customer()
    with time_machine.travel(NOW - timedelta(hours=2), tick=False):
        hold("D-1", EXPIRES)
        reminders.create_due(NOW - timedelta(hours=2))  # 01:00 UTC: made for 02:00 UTC
        db.session.commit()
    fields = {"kind": "hosting", "name": "Hosting Pro", "expires_on": date(2028, 3, 8)}
    renewed = Row(1, "D-1", ContactKey(external_ref="KH-001"), fields)
    with committed():
        subscriptions.bulk_upsert(SOURCE, [renewed], "test")
    assert ledger() == [(EXPIRES, -7, "cancelled", "skipped", Cancel.RENEWED)]


def test_a_change_behind_the_use_cases_back_is_caught_at_send_time(
    app: Flask, smtp: SmtpTestServer
) -> None:
    renewal_schedule([-7])
    customer()
    with time_machine.travel(NOW, tick=False):
        sub_id = hold("D-1", EXPIRES)
        due(NOW)
        # As if billing's database were written directly: no upsert, no round in between.
        db.session.execute(
            update(Subscription).values(status="cancelled").where(Subscription.id == sub_id)
        )
        db.session.commit()
        drain(app)
    assert smtp.messages == []
    assert ledger() == [(EXPIRES, -7, "queued", "skipped", Cancel.CANCELLED)]


def test_a_sent_reminder_is_told_to_the_webhook_endpoints(
    app: Flask, smtp: SmtpTestServer, receiver: Receiver
) -> None:
    subscribe(receiver, "subscription.reminder_sent")
    renewal_schedule([-7])
    contact_id = customer()
    with time_machine.travel(NOW, tick=False):
        sub_id = hold("D-1", EXPIRES)
        due(NOW)
        drain(app)
        drain(app)  # the webhook's delivery, enqueued by the sending
    [event] = receiver.of_type("subscription.reminder_sent")
    notice_id = db.session.scalar(select(Reminder.notice_id))
    assert event["data"] == {
        "subscription_id": sub_id, "contact_id": contact_id, "external_ref": "KH-001",
        "reminder": "renewal:-7", "due_on": "2027-03-01", "notice_id": notice_id,
    }  # fmt: skip
    assert len(smtp.messages) == 1


def test_a_paused_schedule_makes_nothing_until_it_resumes(app: Flask) -> None:
    key = renewal_schedule([-7])
    customer()
    with committed():
        reminders.set_schedule(key, [-7], 9, True)
    with time_machine.travel(NOW, tick=False):
        hold("D-1", EXPIRES)
        with committed():
            reminders.create_due(NOW)
        assert count(Reminder) == 0
        with committed():
            reminders.set_schedule(key, [-7], 9, False)
            reminders.create_due(NOW)
    assert [(s, st) for _, s, st, _, _ in ledger()] == [(-7, "queued")]
    assert db.session.scalar(select(Notice.status)) == NoticeStatus.QUEUED


def test_an_expired_subscription_gets_the_reminder_after_expiry_only(
    app: Flask, smtp: SmtpTestServer
) -> None:
    renewal_schedule([-1, 3])
    customer()
    day_before = datetime(2027, 3, 7, 3, tzinfo=UTC)
    with time_machine.travel(day_before, tick=False):
        hold("D-1", EXPIRES)
        due(day_before)  # the -1 row, and the +3 one's day is still 4 days off
        hold("D-1", EXPIRES, status="expired")  # billing: not renewed (a little early)
        drain(app)
    three_after = datetime(2027, 3, 11, 3, tzinfo=UTC)
    with time_machine.travel(three_after, tick=False):
        due(three_after)
        drain(app)
    assert ledger() == [
        (EXPIRES, -1, "cancelled", "skipped", Cancel.CANCELLED),
        (EXPIRES, 3, "sent", "sent", None),
    ]
    assert len(smtp.messages) == 1
