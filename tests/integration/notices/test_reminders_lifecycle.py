"""A subscription's life under a reminder schedule, the clock moved day by day: exactly the
expected mails reach the SMTP server, once each, with two schedulers racing every round."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from email.parser import BytesParser
from email.policy import default

import time_machine
from flask import Flask

from notifier.domain.reminders import Cancel
from tests.integration.helpers import drain
from tests.integration.notices.reminder_steps import (
    customer,
    hold,
    ledger,
    renewal_schedule,
    two_schedulers,
)
from tests.integration.test_api_support import smtp
from tests.smtp_server import SmtpTestServer

__all__ = ["smtp"]  # the fixture
FIRST_EXPIRY, NEW_EXPIRY = date(2027, 3, 31), date(2028, 3, 31)


def subjects(server: SmtpTestServer) -> list[str]:
    parsed = [BytesParser(policy=default).parsebytes(m.data) for m in server.messages]
    return [str(m["Subject"]) for m in parsed]


def test_created_reminded_renewed_reminded_cancelled(app: Flask, smtp: SmtpTestServer) -> None:
    renewal_schedule([-30, -7, -1, 3], hour=9)
    customer()
    sent: list[date] = []

    def day(when: date, hour: int = 3) -> None:
        """A round at `hour` UTC (10:00 in Hanoi: after the 09:00 send hour), then the workers."""
        moment = datetime.combine(when, time(hour), UTC)
        with time_machine.travel(moment, tick=False):
            two_schedulers(app, moment)
            drain(app)
        if len(smtp.messages) > len(sent):
            sent.append(when)

    with time_machine.travel(datetime(2027, 2, 20, 3, tzinfo=UTC), tick=False):
        hold("D-1", FIRST_EXPIRY)
    for when in (date(2027, 2, 20), date(2027, 2, 28), date(2027, 3, 1), date(2027, 3, 2)):
        day(when)  # -30 is 2027-03-01 (09:00 local: 02:00 UTC)
    day(date(2027, 3, 23))
    day(date(2027, 3, 24))  # -7
    day(date(2027, 3, 30), hour=1)  # -1 made for 02:00 UTC, not yet due
    assert sent == [date(2027, 3, 1), date(2027, 3, 24)]
    with time_machine.travel(datetime(2027, 3, 30, 1, 30, tzinfo=UTC), tick=False):
        hold("D-1", NEW_EXPIRY)  # billing: renewed for a year
    for when in (date(2027, 3, 30), date(2027, 3, 31), date(2027, 4, 3), date(2027, 4, 4)):
        day(when)  # the old date's -1 and +3 never go out
    day(date(2028, 2, 29))
    day(date(2028, 3, 1))  # the new date's -30
    with time_machine.travel(datetime(2028, 3, 5, tzinfo=UTC), tick=False):
        hold("D-1", NEW_EXPIRY, status="cancelled")
    for when in (date(2028, 3, 24), date(2028, 3, 30), date(2028, 3, 31), date(2028, 4, 3)):
        day(when)

    assert sent == [date(2027, 3, 1), date(2027, 3, 24), date(2028, 3, 1)]
    assert [m.rcpt_tos for m in smtp.messages] == [["an@example.com"]] * 3
    assert ledger() == [
        (FIRST_EXPIRY, -30, "sent", "sent", None),
        (FIRST_EXPIRY, -7, "sent", "sent", None),
        (FIRST_EXPIRY, -1, "cancelled", "skipped", Cancel.RENEWED),
        (NEW_EXPIRY, -30, "sent", "sent", None),
    ]
    assert all("Hosting Pro" in s for s in subjects(smtp))


def test_a_subscription_seen_late_gets_only_the_steps_still_to_come(
    app: Flask, smtp: SmtpTestServer
) -> None:
    renewal_schedule([-30, -7, -1], hour=9)
    customer()
    created = datetime(2027, 3, 27, 3, tzinfo=UTC)  # four days before expiry
    with time_machine.travel(created, tick=False):
        hold("D-2", FIRST_EXPIRY)
        two_schedulers(app, created)
        drain(app)
    later = datetime(2027, 3, 30, 3, tzinfo=UTC)
    with time_machine.travel(later, tick=False):
        two_schedulers(app, later)
        drain(app)
    assert [(e, s, st) for e, s, st, _, _ in ledger()] == [(FIRST_EXPIRY, -1, "sent")]
    assert len(smtp.messages) == 1
