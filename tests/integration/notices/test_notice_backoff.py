"""A notice waits for its retry and for its send_at, whoever runs its job.

A notice the relay refused for now (451) is queued again with `next_attempt_at`; a notice
triggered with a later `send_at` is enqueued only when that time comes. Before this, the
scheduler respected both but the job did not: a stray job (a duplicate enqueued before the 451,
or one an operator requeued) claimed the notice at once and sent it early. A real SMTP server,
database, Redis and RQ worker.
"""

from __future__ import annotations

from datetime import timedelta

import time_machine
from flask import Flask

from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, queue
from notifier.models import Notice, NoticeStatus, utcnow
from notifier.notices import notices
from notifier.notices.notices import SEND_NOTICE_JOB
from tests.conftest import configure
from tests.integration.helpers import committed, drain, layout_template, make_contact, sample_data
from tests.smtp_server import SmtpTestServer

ADDRESS = "gia-han@example.org"
# SMTP_RETRY_SECONDS: the first wait is 30 s to 90 s (jitter +-50 %), far longer than any step
# of the test takes on a loaded machine (with 3 s, a slow step let the backoff run out before the
# stray job came, and the job rightly sent); the clock then travels past it (time_machine).
BASE = 60.0
LATER = timedelta(seconds=60)


def _trigger(key: str, send_in: timedelta | None = None) -> int:
    notices.define_notice_type(
        "renewal", "Gia hạn", "renewal", layout_template("renewal", "renewal")
    )
    contact_id = make_contact(ADDRESS, name="Công ty Hoa Lan")
    body = sample_data("renewal")
    send_at = utcnow() + send_in if send_in else None
    with committed():
        triggered = notices.trigger(
            "renewal", contact_id, body, key, notices.request_fingerprint(body), send_at=send_at
        )
    return triggered.notice.id


def _stray_job(app: Flask, notice_id: int) -> None:
    queue(NOTICES).enqueue(SEND_NOTICE_JOB, notice_id)
    drain(app)


def _notice(notice_id: int) -> Notice:
    db.session.expire_all()
    notice = db.session.get(Notice, notice_id)
    assert notice is not None
    return notice


def test_a_451_notice_waits_for_its_backoff_even_when_a_job_comes_early(
    app: Flask, smtp: SmtpTestServer
) -> None:
    configure(app, SMTP_RETRY_SECONDS=BASE)
    smtp.data_replies[ADDRESS] = "451 4.3.0 try again later"
    notice_id = _trigger("inv-451")
    drain(app)
    notice = _notice(notice_id)
    assert notice.status == NoticeStatus.QUEUED and notice.attempts == 1
    retry_at = notice.next_attempt_at
    assert retry_at is not None
    smtp.data_replies.clear()  # the relay would accept it now: only the backoff holds it back

    _stray_job(app, notice_id)
    with committed():
        assert notices.reconcile_notices(utcnow()) == 0
    assert smtp.messages == []
    assert _notice(notice_id).status == NoticeStatus.QUEUED

    with time_machine.travel(retry_at + timedelta(seconds=1), tick=True):
        with committed():
            assert notices.reconcile_notices(utcnow()) == 1
        drain(app)
        assert _notice(notice_id).status == NoticeStatus.SENT
        _stray_job(app, notice_id)  # delivered once: a later job sends nothing more
    assert [m.rcpt_tos for m in smtp.messages] == [[ADDRESS]]


def test_a_notice_for_later_is_not_sent_early_by_a_stray_job(
    app: Flask, smtp: SmtpTestServer
) -> None:
    notice_id = _trigger("inv-later", send_in=LATER)
    assert queue(NOTICES).count == 0  # not enqueued before its time

    _stray_job(app, notice_id)
    assert smtp.messages == [] and _notice(notice_id).status == NoticeStatus.QUEUED

    send_at = _notice(notice_id).send_at
    assert send_at is not None
    with time_machine.travel(send_at + timedelta(seconds=1), tick=True):
        with committed():
            assert notices.reconcile_notices(utcnow()) == 1
        drain(app)
    assert _notice(notice_id).status == NoticeStatus.SENT
    assert [m.rcpt_tos for m in smtp.messages] == [[ADDRESS]]
