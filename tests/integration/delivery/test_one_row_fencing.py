"""Notices and system mail are fenced like campaign batches: a late worker's result is refused.

The attack: worker A sends a message, and while the relay holds its answer (a 451) the recovery
gives the row to worker B (as it does when A's lease expired or its heartbeat is gone), which
sends it and records SENT. When A's answer finally arrives, writing it would put the row back to
QUEUED (or FAILED), and the message would go out a third time. A real SMTP server, database and
Redis; A runs in a thread of its own with its own session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from notifier.delivery import system_mail
from notifier.delivery.recovery import recover_claims
from notifier.infra.extensions import db
from notifier.models import Notice, SystemMail, SystemMailKind, utcnow
from notifier.notices import notices
from tests.conftest import configure
from tests.integration.delivery.test_fencing import Warnings
from tests.integration.helpers import committed, layout_template, make_contact, sample_data
from tests.smtp_server import SmtpTestServer

ADDRESS = "late@example.org"


def a_notice() -> tuple[Callable[[int], str], type, int]:
    notices.define_notice_type(
        "renewal", "Gia hạn", "renewal", layout_template("renewal", "renewal")
    )
    contact_id = make_contact(ADDRESS, name="Công ty Hoa Lan")
    body = sample_data("renewal")
    fingerprint = notices.request_fingerprint(body)
    with committed():
        notice = notices.trigger("renewal", contact_id, body, "inv-late", fingerprint).notice
    return notices.send_notice, Notice, notice.id


def a_system_mail() -> tuple[Callable[[int], str], type, int]:
    data = {"link": "https://notifier.test/p/x", "received_at": utcnow().isoformat()}
    with committed():
        mail = system_mail.queue_mail(SystemMailKind.PREFERENCES_LINK, ADDRESS, "vi", data)
    return system_mail.send, SystemMail, mail.id


@pytest.mark.parametrize("make", [a_notice, a_system_mail], ids=["notice", "system_mail"])
def test_a_late_workers_result_is_refused_never_applied(
    app: Flask, smtp: SmtpTestServer, make: Callable[[], tuple[Callable[[int], str], type, int]]
) -> None:
    configure(app, CLAIM_LEASE_SECONDS=9)  # SMTP waits up to 3 s: the held answer fits
    send, model, row_id = make()
    smtp.data_replies[ADDRESS] = "451 4.3.0 try again later"
    smtp.data_delay = 1.5
    late: list[str] = []

    def worker_a() -> None:
        with app.app_context():
            try:
                with committed():  # the job's unit of work, as workers/jobs.py opens it
                    late.append(send(row_id))
            finally:
                db.session.remove()

    with Warnings("notifier.delivery.single") as warnings:
        thread = threading.Thread(target=worker_a)
        thread.start()
        deadline = time.monotonic() + 20
        while smtp.data_started == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert smtp.data_started == 1, "worker A's message never reached the relay"
        # A's 451 is decided and on its way; the relay answers B at once.
        smtp.data_replies.clear()
        smtp.data_delay = 0.0
        # The scheduler, once A's lease is over (A is frozen in the relay's eyes).
        assert recover_claims(utcnow() + timedelta(seconds=10)) == 1
        with committed():
            assert send(row_id) == "sent"  # worker B
        thread.join(30)

    db.session.expire_all()
    row = db.session.scalar(select(model).where(model.id == row_id))
    assert row.status == "sent", "the late 451 was written over B's result"
    assert late in (["sending"], ["sent"]), late  # A reads B's row instead of writing its own
    assert "late result refused" in warnings.text
    assert [m.rcpt_tos for m in smtp.messages] == [[ADDRESS]]
