"""A worker busy with a campaign steps aside for a queued notice, and the campaign still ends."""

from __future__ import annotations

from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from notifier.extensions import db
from notifier.models import Campaign, Delivery
from notifier.queues import NOTICES, SEND, queue
from notifier.services import campaigns
from tests.integration.helpers import drain, make_contact, start_campaign
from tests.smtp_server import SmtpTestServer

PEOPLE = 150


def _planned_campaign() -> int:
    for number in range(PEOPLE):
        make_contact(f"kh{number}@example.com", ("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    campaigns.plan(campaign_id)
    queue(SEND).empty()  # the send jobs planning queued: this test runs the job itself
    return campaign_id


def _statuses(campaign_id: int) -> Counter[str]:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    return Counter({str(status): int(count) for status, count in rows})


def test_a_send_job_hands_over_when_a_notice_waits(app: Flask, smtp: SmtpTestServer) -> None:
    campaign_id = _planned_campaign()
    queue(NOTICES).enqueue("workers.jobs.send_notice", 999_999)  # any queued notice will do

    sent = campaigns.run_send_job(campaign_id, yield_to_notices=True)

    statuses = _statuses(campaign_id)
    assert 0 < sent < PEOPLE, "it sends for a moment first, then steps aside"
    assert statuses == {"sent": sent, "pending": PEOPLE - sent}, "the rest is released, not lost"
    assert queue(SEND).count == 1, "a fresh send job waits behind the notice"
    assert db.session.get(Campaign, campaign_id).status == "sending"

    queue(NOTICES).empty()
    drain(app)
    assert _statuses(campaign_id) == {"sent": PEOPLE}
    received = Counter(m.rcpt_tos[0] for m in smtp.messages)
    assert len(received) == PEOPLE and set(received.values()) == {1}


def test_a_worker_that_serves_no_notices_keeps_sending(app: Flask, smtp: SmtpTestServer) -> None:
    campaign_id = _planned_campaign()
    queue(NOTICES).enqueue("workers.jobs.send_notice", 999_999)

    sent = campaigns.run_send_job(campaign_id, yield_to_notices=False)

    assert sent == PEOPLE
    assert db.session.get(Campaign, campaign_id).status == "done"


def test_a_slow_batch_keeps_its_lease_so_nobody_steals_it(app: Flask, smtp: SmtpTestServer) -> None:
    """The lease is renewed only now and then (not at every flush), but in time."""
    import threading

    from notifier.models import utcnow
    from notifier.services.sending import recover_stale_claims

    app.config.update(CLAIM_LEASE_SECONDS=1, BATCH_SIZE=PEOPLE)
    smtp.data_delay = 0.02  # 150 messages: about 3 s, three times the lease
    campaign_id = _planned_campaign()
    sender_done = threading.Event()

    def send() -> None:
        with app.app_context():
            campaigns.run_send_job(campaign_id)
        sender_done.set()

    sender = threading.Thread(target=send)
    sender.start()
    recovered = []
    while not sender_done.wait(0.3):
        recovered.append(recover_stale_claims(utcnow(), lambda _: True))
        db.session.commit()
    sender.join()
    assert len(recovered) >= 5 and sum(recovered) == 0, "a live claim was taken as stale"
    assert _statuses(campaign_id) == {"sent": PEOPLE}
    assert len(smtp.messages) == PEOPLE
