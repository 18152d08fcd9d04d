"""System mail a relay refused for now (451) waits for the same backoff as notices and campaign
mail (domain.send_outcome: RetryPolicy and RelayBackoff), then goes out once.

Before `system_mails.next_attempt_at`, the scheduler recomputed the wait at every round with a
fresh random draw, and a job that came early (enqueued before the 451) sent the mail at once. A
real SMTP server, database and Redis; the retry is sent by a real RQ worker.
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask

from notifier.delivery import system_mail
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, queue
from notifier.models import SystemMail, SystemMailKind, SystemMailStatus, utcnow
from tests.conftest import configure
from tests.integration.helpers import committed, drain
from tests.smtp_server import SmtpTestServer

ADDRESS = "later@example.org"
BASE = 3.0  # SMTP_RETRY_SECONDS: the first wait is 1.5 s to 4.5 s (jitter +-50 %)


def test_a_451_system_mail_is_retried_after_its_backoff_and_delivered_once(
    app: Flask, smtp: SmtpTestServer
) -> None:
    configure(app, SMTP_RETRY_SECONDS=BASE)
    data = {"link": "https://notifier.test/p/x", "received_at": utcnow().isoformat()}
    with committed():
        mail_id = system_mail.queue_mail(SystemMailKind.PREFERENCES_LINK, ADDRESS, "vi", data).id
    queue(NOTICES).empty()  # the job queue_mail enqueued: this test runs its steps by hand
    smtp.data_replies[ADDRESS] = "451 4.3.0 try again later"

    tried_at = utcnow()
    with committed():  # the job's unit of work, as workers/jobs.py opens it
        assert system_mail.send(mail_id) == SystemMailStatus.QUEUED
    db.session.expire_all()
    mail = db.session.get(SystemMail, mail_id)
    assert mail is not None and mail.attempts == 1 and mail.error.startswith("451")
    assert mail.next_attempt_at is not None
    wait = (mail.next_attempt_at - tried_at).total_seconds()
    assert BASE * 0.5 - 0.5 <= wait <= BASE * 1.5 + 1, wait
    smtp.data_replies.clear()  # the relay would accept it now: only the backoff holds it back

    # Not at once: the scheduler's round leaves it, and a job that comes early sends nothing.
    with committed():
        assert system_mail.reconcile(utcnow()) == 0
    assert queue(NOTICES).count == 0
    with committed():
        assert system_mail.send(mail_id) == SystemMailStatus.QUEUED
    assert smtp.messages == []

    # Once its wait has passed, the scheduler's round enqueues it and a worker sends it.
    while utcnow() < mail.next_attempt_at:
        time.sleep(0.05)
    with committed():
        assert system_mail.reconcile(utcnow()) == 1
    drain(app)
    db.session.expire_all()
    mail = db.session.get(SystemMail, mail_id)
    assert mail is not None and mail.status == SystemMailStatus.SENT and mail.attempts == 1
    assert utcnow() - tried_at >= timedelta(seconds=wait)
    assert [m.rcpt_tos for m in smtp.messages] == [[ADDRESS]]

    # Delivered once: later rounds and a stray job send nothing more.
    with committed():
        assert system_mail.reconcile(utcnow()) == 0
        assert system_mail.send(mail_id) == SystemMailStatus.SENT
    assert len(smtp.messages) == 1
