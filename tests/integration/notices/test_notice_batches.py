"""Notices sent in batches (notifier/notices/batch.py): one claim for many, each judged on its
own, a batch whose claim the recovery took sends nothing more, and what a dead batch's journal
names is recorded, never sent again.

Real SMTP server, database and Redis; the late worker runs in a thread with its own session.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from notifier.contacts import consent_ledger
from notifier.contacts.consent_ledger import Evidence
from notifier.delivery.recovery import recover_claims
from notifier.delivery.sending import journal_key
from notifier.infra.extensions import db
from notifier.infra.queues import redis_connection
from notifier.models import ConsentSource, Notice, SendLog, utcnow
from notifier.notices import batch, notices
from tests.conftest import configure
from tests.integration.delivery.test_fencing import Warnings
from tests.integration.helpers import committed, layout_template, make_contact, sample_data
from tests.smtp_server import SmtpTestServer


def queued_notices(addresses: list[str]) -> list[int]:
    notices.define_notice_type(
        "renewal", "Gia hạn", "renewal", layout_template("renewal", "renewal")
    )
    body = sample_data("renewal")
    ids = []
    for index, address in enumerate(addresses):
        contact_id = make_contact(address, name=f"Khách {index}")
        with committed():
            notice = notices.trigger(
                "renewal", contact_id, body, f"inv-{index}", notices.request_fingerprint(body)
            ).notice
        ids.append(notice.id)
    return ids


def statuses(ids: list[int]) -> dict[int, str]:
    db.session.expire_all()
    rows = db.session.execute(select(Notice.id, Notice.status).where(Notice.id.in_(ids)))
    return {notice_id: str(status) for notice_id, status in rows}


def test_a_batch_judges_each_notice_and_records_each_once(app: Flask, smtp: SmtpTestServer) -> None:
    addresses = ["a@example.org", "withdrawn@example.org", "c@example.org"]
    ids = queued_notices(addresses)
    withdrawn = db.session.scalar(select(Notice.contact_id).where(Notice.id == ids[1]))
    with committed():
        consent_ledger.withdraw(withdrawn, ["renewal"], Evidence(ConsentSource.API))
    with committed():
        result = batch.send_notices([*ids, *ids])  # a stray duplicate id claims nothing more

    assert result == {ids[0]: "sent", ids[1]: "skipped", ids[2]: "sent"}
    assert statuses(ids) == result
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["a@example.org", "c@example.org"]
    assert db.session.scalar(select(db.func.count()).select_from(SendLog)) == 2
    with committed():
        assert batch.send_notices(ids) == {}, "a second run finds nothing to claim"
    assert len(smtp.messages) == 2


def test_a_batch_whose_claim_was_taken_sends_nothing_more(app: Flask, smtp: SmtpTestServer) -> None:
    """Worker A is slow (the relay holds each answer); the recovery gives its rows to worker B.
    A's message on the wire then may be sent twice (service mail: rather twice than never),
    but A must not start another one of the rows it lost."""
    # A quarter of the lease (1.5 s) is gone before A's second message; SMTP may wait 2 s.
    configure(app, CLAIM_LEASE_SECONDS=6)
    addresses = ["first@example.org", "second@example.org", "third@example.org"]
    ids = queued_notices(addresses)
    smtp.data_delay = 1.7
    late: list[dict[int, str]] = []

    def worker_a() -> None:
        with app.app_context():
            try:
                with committed():
                    late.append(batch.send_notices(ids))
            finally:
                db.session.remove()

    with Warnings("notifier.delivery.single") as warnings:
        thread = threading.Thread(target=worker_a)
        thread.start()
        deadline = time.monotonic() + 20
        while smtp.data_started == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert smtp.data_started == 1, "worker A's first message never reached the relay"
        # The scheduler, as if A's lease were over: all three rows are queued again.
        assert recover_claims(utcnow() + timedelta(seconds=10)) == 3
        smtp.data_delay = 0.0
        with committed():
            assert batch.send_notices(ids) == dict.fromkeys(ids, "sent")  # worker B
        thread.join(30)

    assert not thread.is_alive()
    assert [list(result) for result in late] == [[ids[0]]], late  # nothing after the first
    assert "late result refused" in warnings.text
    received = Counter(m.rcpt_tos[0] for m in smtp.messages)
    assert received == {"first@example.org": 2, "second@example.org": 1, "third@example.org": 1}
    assert statuses(ids) == dict.fromkeys(ids, "sent")


def test_what_a_dead_batch_journaled_is_recorded_not_sent_again(
    app: Flask, smtp: SmtpTestServer
) -> None:
    """A worker died after two of its three messages went out, before their outcomes were
    written: its journal names them. The recovery queues the three again, the two with their
    Message-ID; the next batch records those two as sent and sends only the third."""
    addresses = ["one@example.org", "two@example.org", "three@example.org"]
    ids = queued_notices(addresses)
    token = "dead-worker-claim"
    with committed():
        db.session.execute(
            update(Notice)
            .where(Notice.id.in_(ids))
            .values(status="sending", claim_token=token, claimed_at=utcnow())
        )
    journal = redis_connection()
    for notice_id in ids[:2]:
        journal.rpush(journal_key(token), f"{notice_id}|sent||<n{notice_id}.x@notifier.test>")

    with committed():
        assert recover_claims(utcnow() + timedelta(seconds=600)) == 3
    db.session.expire_all()
    assert statuses(ids) == dict.fromkeys(ids, "queued")
    with committed():
        assert batch.send_notices(ids) == dict.fromkeys(ids, "sent")

    assert [m.rcpt_tos for m in smtp.messages] == [["three@example.org"]]
    message_ids = {i: m for i, m in db.session.execute(select(Notice.id, Notice.message_id))}
    assert message_ids[ids[0]] == f"<n{ids[0]}.x@notifier.test>"
    assert message_ids[ids[1]] == f"<n{ids[1]}.x@notifier.test>"
    assert db.session.scalar(select(db.func.count()).select_from(SendLog)) == 3
    assert not journal.exists(journal_key(token)), "the journal is gone once settled"
