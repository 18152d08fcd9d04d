"""A worker busy with a campaign sends a notice queued meanwhile at once, and goes on."""

from __future__ import annotations

import threading
import time
from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from notifier.campaigns import lifecycle as campaigns
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, SEND, queue
from notifier.models import Campaign, Delivery, Notice
from notifier.notices import notices
from tests.conftest import configure
from tests.integration.helpers import (
    drain,
    layout_template,
    make_contact,
    sample_data,
    start_campaign,
)
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


def _notice_arriving_after(app: Flask, smtp: SmtpTestServer, messages: int) -> threading.Thread:
    """The billing system's notice, triggered once the campaign is `messages` messages in."""
    notices.define_notice_type(
        "renewal", "Gia hạn", "renewal", layout_template("renewal", "renewal")
    )
    contact_id = make_contact("renew@example.org", name="Công ty Hoa Lan")
    body = sample_data("renewal")

    def trigger() -> None:
        while len(smtp.messages) < messages:
            time.sleep(0.001)
        with app.app_context():
            notices.trigger("renewal", contact_id, body, "inv-1", notices.request_fingerprint(body))

    thread = threading.Thread(target=trigger)
    thread.start()
    return thread


def test_a_notice_is_sent_between_two_campaign_messages(app: Flask, smtp: SmtpTestServer) -> None:
    smtp.data_delay = 0.01  # a campaign of 1.5 s or more, for the notice to arrive in
    campaign_id = _planned_campaign()
    notice_thread = _notice_arriving_after(app, smtp, 10)

    sent = campaigns.run_send_job(campaign_id, serve_notices=True)
    notice_thread.join()

    order = [m.rcpt_tos[0] for m in smtp.messages]
    assert 10 <= order.index("renew@example.org") < PEOPLE, "it went out mid-campaign"
    assert sent == PEOPLE and _statuses(campaign_id) == {"sent": PEOPLE}, "the job went on"
    assert db.session.get(Campaign, campaign_id).status == "done"
    notice = db.session.scalars(select(Notice)).one()
    assert notice.status == "sent"
    assert queue(NOTICES).count == 0, "its job was taken off the queue: nobody sends it again"
    drain(app)
    assert Counter(m.rcpt_tos[0] for m in smtp.messages)["renew@example.org"] == 1


def test_a_notice_job_that_fails_inside_a_send_job_is_left_to_its_queue(
    app: Flask, smtp: SmtpTestServer
) -> None:
    """Hostile or broken job data must not stop the campaign, nor vanish: RQ records it."""
    campaign_id = _planned_campaign()
    broken = queue(NOTICES).enqueue("workers.jobs.send_notice", "not-a-number")

    sent = campaigns.run_send_job(campaign_id, serve_notices=True)

    assert sent == PEOPLE and db.session.get(Campaign, campaign_id).status == "done"
    assert queue(NOTICES).get_job_ids() == [broken.id], "given back, not lost"
    drain(app)
    assert queue(NOTICES).failed_job_registry.get_job_ids() == [broken.id]


def test_a_worker_that_serves_no_notices_leaves_them_queued(
    app: Flask, smtp: SmtpTestServer
) -> None:
    campaign_id = _planned_campaign()
    notice_thread = _notice_arriving_after(app, smtp, 10)

    sent = campaigns.run_send_job(campaign_id, serve_notices=False)
    notice_thread.join()

    assert sent == PEOPLE
    assert "renew@example.org" not in [m.rcpt_tos[0] for m in smtp.messages]
    assert queue(NOTICES).count == 1


def test_a_slow_batch_keeps_its_lease_so_nobody_steals_it(app: Flask, smtp: SmtpTestServer) -> None:
    """The lease is renewed only now and then (not at every flush), but in time."""
    import threading

    from notifier.delivery.recovery import recover_claims
    from notifier.models import utcnow

    configure(app, CLAIM_LEASE_SECONDS=1, BATCH_SIZE=PEOPLE)
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
        recovered.append(recover_claims(utcnow()))
        db.session.commit()
    sender.join()
    assert len(recovered) >= 5 and sum(recovered) == 0, "a live claim was taken as stale"
    assert _statuses(campaign_id) == {"sent": PEOPLE}
    assert len(smtp.messages) == PEOPLE
