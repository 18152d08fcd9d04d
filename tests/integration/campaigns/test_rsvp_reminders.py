"""The reminder before an event, the clock moved round by round with two schedulers racing each
round: one reminder per standing RSVP at the SMTP server, none for a cancelled registration or
an erased person, none after the start, and none in the contact's quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from flask import Flask

from notifier.campaigns import rsvps as use_cases
from notifier.domain.rsvp import rsvp_token
from notifier.infra.context import token_secret
from notifier.privacy.requests import Requester, erase_now
from tests.integration.helpers import committed, drain, make_contact
from tests.integration.notices.reminder_steps import two_schedulers
from tests.integration.rsvp_steps import event_campaign, hanoi, mails, parsed, rsvps
from tests.smtp_server import SmtpTestServer

DAY = datetime.now(UTC) + timedelta(days=3)


def registered(
    app: Flask, smtp: SmtpTestServer, starts_at: datetime, *people: str, at: datetime | None = None
) -> list[int]:
    """An event campaign sent to `people`, each registered through their own link (`at` that
    moment, else now)."""
    contacts = [
        make_contact(p, grants=("events",), locale="en" if "bea" in p else "vi") for p in people
    ]
    campaign = event_campaign(starts_at)
    drain(app)  # the invitations
    with time_machine.travel(at or datetime.now(UTC), tick=False):
        for contact in contacts:
            with committed():
                use_cases.register(
                    rsvp_token(token_secret(), campaign, contact), at or datetime.now(UTC)
                )
        drain(app)  # the confirmations
    smtp.messages.clear()
    return contacts


def rounds(app: Flask, smtp: SmtpTestServer, *moments: datetime) -> list[list[str]]:
    """A round of two racing schedulers at each moment, then the workers; what each sent."""
    sent = []
    for moment in moments:
        before = len(smtp.messages)
        with time_machine.travel(moment, tick=False):
            two_schedulers(app, moment)
            drain(app)
        sent.append(sorted(m.rcpt_tos[0] for m in smtp.messages[before:]))
    return sent


def test_each_standing_rsvp_is_reminded_once_the_day_before(
    app: Flask, smtp: SmtpTestServer
) -> None:
    starts = hanoi(DAY, 15)
    an, bea, cuong, dung = registered(
        app,
        smtp,
        starts,
        "an@example.com",
        "bea@example.com",
        "cuong@example.com",
        "dung@example.com",
    )
    with committed():  # Cuong cannot come; Dung asked to be erased
        campaign = rsvps()[0][0]
        use_cases.cancel(rsvp_token(token_secret(), campaign, cuong), datetime.now(UTC))
        erase_now(dung, Requester(ip=None, user_agent=None, locale="vi"), "test")
    sent = rounds(
        app,
        smtp,
        starts - timedelta(hours=30),  # too early
        starts - timedelta(hours=23),  # 16:00 the day before: the reminders
        starts - timedelta(hours=22),  # the next round finds nothing to do
        starts - timedelta(minutes=5),
        starts + timedelta(hours=1),  # started
    )
    assert sent == [[], ["an@example.com", "bea@example.com"], [], [], []]
    pairs = zip(smtp.messages, parsed(smtp), strict=True)
    subjects = {m.rcpt_tos[0]: str(p["Subject"]) for m, p in pairs}
    assert subjects == {
        "an@example.com": "Nhắc lịch: sự kiện của bạn sắp diễn ra",
        "bea@example.com": "Reminder: your event starts soon",
    }
    assert len(mails("rsvp_reminder")) == 2
    assert [(contact, reminded) for _, contact, _, reminded in rsvps()] == [
        (an, True), (bea, True), (cuong, False), (dung, False),
    ]  # fmt: skip


def test_quiet_hours_hold_the_reminder_until_eight_and_never_past_the_start(
    app: Flask, smtp: SmtpTestServer
) -> None:
    early = hanoi(DAY, 7, 30)  # its window opens at 07:30 the day before, in quiet hours
    registered(app, smtp, early, "an@example.com")
    day_before = early - timedelta(days=1)
    sent = rounds(
        app,
        smtp,
        hanoi(day_before, 7, 45),  # in the window, but quiet
        hanoi(day_before, 8, 0),  # quiet hours over: sent
        hanoi(day_before, 22, 0),
    )
    assert sent == [[], ["an@example.com"], []]


def test_a_registration_made_at_night_for_a_dawn_event_gets_no_reminder(
    app: Flask, smtp: SmtpTestServer
) -> None:
    """Registered at 21:30 for 06:30 the next morning: every moment left before the start is in
    the quiet hours, and nothing goes out after the start (the confirmation has just gone)."""
    dawn = hanoi(DAY, 6, 30)
    evening = dawn - timedelta(hours=9)  # 21:30 the day before
    registered(app, smtp, dawn, "an@example.com", at=evening)
    later = (
        evening + timedelta(minutes=5),
        evening + timedelta(hours=4),
        dawn - timedelta(minutes=1),
    )
    sent = rounds(app, smtp, *later, hanoi(dawn, 8, 0), hanoi(dawn, 12, 0))
    assert sent == [[], [], [], [], []]
    assert mails("rsvp_reminder") == [] and len(mails("rsvp_confirmed")) == 1
