"""The retention notice when a contract ends (docs/automations.md), the clock moved day by day:
exactly the expected mails reach the SMTP server, with two schedulers racing every round, and
the purge erases only once the customer has been told."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.contacts import contacts
from notifier.infra.extensions import db
from notifier.models import Contact, PrivacyRequest, RetentionNotice, SystemMail
from notifier.privacy import requests as privacy
from notifier.privacy import retention
from tests.integration.helpers import committed, drain, make_contact
from tests.integration.notices.reminder_steps import two_schedulers
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.integration.test_api_support import bearer, issue_key, smtp
from tests.smtp_server import SmtpTestServer

__all__ = ["smtp"]  # the fixture
END = date(2027, 5, 10)


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def rounds(app: Flask, moment: datetime, send: bool = True) -> None:
    """Two scheduler rounds at once at `moment`, then (unless not) the workers."""
    with time_machine.travel(moment, tick=False):
        two_schedulers(app, moment)
        if send:
            drain(app)


def purge(moment: datetime) -> int:
    """The purge as of `moment` (its erasures stamped with the real clock, as the database's)."""
    with committed():
        return retention.purge(moment)["contracts_ended_erased"]


def mails(server: SmtpTestServer) -> list[EmailMessage]:
    parsed = [BytesParser(policy=default).parsebytes(m.data) for m in server.messages]
    return [m for m in parsed if isinstance(m, EmailMessage)]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def erased(contact_id: int) -> bool:
    db.session.rollback()
    contact = db.session.get(Contact, contact_id)
    assert contact is not None
    return contact.erased_at is not None


def notices() -> list[tuple[int, date, str, date]]:
    db.session.rollback()
    rows = db.session.execute(
        select(RetentionNotice.contact_id, RetentionNotice.contract_ends_on,
               RetentionNotice.status, RetentionNotice.erasure_on)
        .order_by(RetentionNotice.contact_id, RetentionNotice.contract_ends_on)
    )  # fmt: skip
    return [(c, e, s, o) for c, e, s, o in rows]


def recorded_notice(contact_id: int) -> object:
    db.session.rollback()
    request = db.session.scalar(
        select(PrivacyRequest).where(PrivacyRequest.contact_id == contact_id)
    )
    assert request is not None and request.details["basis"] == "retention"
    return request.details.get("notice")


def test_told_once_on_the_end_day_then_erased_once_the_mail_has_left(
    app: Flask, smtp: SmtpTestServer
) -> None:
    person = make_contact("an@example.com", name="Nguyễn Văn An", contract_ends_on=END.isoformat())
    rounds(app, at(END - timedelta(days=1), 3))
    rounds(app, at(END, 0))  # 07:00 in Vietnam: the notice waits for 09:00
    assert smtp.messages == []
    rounds(app, at(END, 3), send=False)  # 10:00: made, still queued
    assert purge(at(END + timedelta(days=1), 3)) == 0  # due, but they are told first
    assert not erased(person)
    drain(app)
    rounds(app, at(END, 5))  # a later round of the same day makes no second one
    [message] = mails(smtp)
    assert smtp.messages[0].rcpt_tos == ["an@example.com"]
    assert str(message["Subject"]).startswith("Hợp đồng của bạn đã kết thúc")
    body = text_of(message)
    assert "đã kết thúc vào ngày 10/05/2027" in body
    assert "dữ liệu sẽ được xóa vào ngày 11/05/2027" in body
    assert "365 ngày" in body and "Nghị định 91/2020" in body
    assert "/p/" in body and "/privacy?lang=vi" in body
    assert notices() == [(person, END, "mailed", END + timedelta(days=1))]
    assert purge(at(END + timedelta(days=1), 3)) == 1
    assert erased(person) and recorded_notice(person) == "mailed"
    rounds(app, at(END + timedelta(days=1), 3))
    assert len(smtp.messages) == 1


def test_racing_rounds_tell_each_customer_once(app: Flask, smtp: SmtpTestServer) -> None:
    people = [make_contact(f"kh{i}@example.com", contract_ends_on=END.isoformat())
              for i in range(12)]  # fmt: skip
    for hour in (3, 3, 4):
        rounds(app, at(END, hour))
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == sorted(
        f"kh{i}@example.com" for i in range(12)
    )
    assert [row[0] for row in notices()] == people
    db.session.rollback()
    made = db.session.scalar(select(func.count()).select_from(SystemMail))
    assert made == 12


def test_an_extended_contract_gets_no_notice_for_its_old_end(
    app: Flask, smtp: SmtpTestServer
) -> None:
    person = make_contact("ext@example.com", contract_ends_on=END.isoformat())
    new_end = date(2028, 5, 10)
    with committed():  # billing extends the contract the day before it ends
        contacts.save_contact({"email": "ext@example.com", "contract_ends_on": new_end.isoformat()})
    for when in (at(END, 3), at(END + timedelta(days=1), 3)):
        rounds(app, when)
    assert smtp.messages == [] and notices() == []
    assert purge(at(END + timedelta(days=2), 3)) == 0 and not erased(person)
    rounds(app, at(new_end, 3))
    [message] = mails(smtp)
    assert "10/05/2028" in text_of(message) and "11/05/2028" in text_of(message)


def test_erased_and_suppressed_contacts_get_none(
    app: Flask, smtp: SmtpTestServer, client: FlaskClient
) -> None:
    gone = make_contact("gone@example.com", contract_ends_on=END.isoformat())
    blocked = make_contact("blocked@example.com", contract_ends_on=END.isoformat())
    with committed():
        privacy.erase_now(gone, privacy.Requester(ip=None, user_agent=None), "test")
    answer = client.post(
        "/api/v1/suppressions",
        json={"email": "blocked@example.com", "scope": "all", "reason": "complaint"},
        headers=bearer(issue_key("contacts")),
    )
    assert answer.status_code == 201
    smtp.messages.clear()  # the erasure's own mail, if any
    rounds(app, at(END, 3))
    assert smtp.messages == []
    assert notices() == [(blocked, END, "skipped", END + timedelta(days=1))]
    purge(at(END + timedelta(days=1), 3))
    assert erased(blocked) and recorded_notice(blocked) == "skipped"


def test_an_english_customer_is_told_in_english(app: Flask, smtp: SmtpTestServer) -> None:
    make_contact("en@example.com", locale="en", contract_ends_on=END.isoformat())
    rounds(app, at(END, 3))
    [message] = mails(smtp)
    assert str(message["Subject"]).startswith("Your contract has ended")
    body = text_of(message)
    assert "ended on May 10, 2027" in body and "erased on May 11, 2027" in body
    assert "365 days" in body and "/privacy?lang=en" in body


def test_a_contract_seen_too_late_is_erased_without_a_notice_and_recorded(
    app: Flask, smtp: SmtpTestServer
) -> None:
    missed = make_contact("late@example.com", contract_ends_on=END.isoformat())
    long_ago = make_contact("old@example.com", contract_ends_on="2027-01-31")
    # The scheduler was down from before the end day until the next evening.
    rounds(app, at(END + timedelta(days=1), 12))
    assert smtp.messages == []
    assert notices() == [(missed, END, "missed", END + timedelta(days=1))]
    purge(at(END + timedelta(days=1), 12))  # if the rounds' own purge has not erased them yet
    assert erased(missed) and erased(long_ago)
    assert recorded_notice(missed) == "missed" and recorded_notice(long_ago) == "none"


def test_staff_see_the_notice_on_the_contact_page(app: Flask, smtp: SmtpTestServer) -> None:
    person = make_contact("xem@example.com", contract_ends_on=END.isoformat())
    rounds(app, at(END, 3))
    assert len(smtp.messages) == 1
    staff = browser(app)
    make_staff("thu@example.com", "staff_in_charge", "Thu")
    sign_in(staff, "thu@example.com")
    page = staff.get(f"/admin/contacts/{person}").get_data(as_text=True)
    [row] = re.findall(r'<tr data-system-mail="retention">.*?</tr>', page, re.S)
    assert "Thông báo xóa dữ liệu khi hết hợp đồng" in row and "sent" in row
