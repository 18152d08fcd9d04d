"""A large audience is planned a range of contact ids at a time: the first messages can leave
while the rest is planned, nobody is planned twice, and the campaign ends only once planned."""

from __future__ import annotations

from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import func, select

from notifier.campaigns import lifecycle as campaigns
from notifier.infra.extensions import db
from notifier.infra.queues import SEND, queue
from notifier.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from tests.integration.helpers import committed, drain, make_contact, start_campaign
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "PLAN_STEP", 3)


def planned_rows(campaign_id: int) -> int:
    query = select(func.count()).where(Delivery.campaign_id == campaign_id)
    return int(db.session.scalar(query) or 0)


def test_each_range_is_committed_with_its_senders_and_nobody_is_planned_twice(
    app: Flask, smtp: SmtpTestServer, small_steps: None
) -> None:
    for i in range(10):
        make_contact(f"c{i}@example.com", ("promotions",) if i % 3 else ())
    make_contact("late@example.com")  # ids with gaps and refusals inside the ranges
    campaign_id = start_campaign("promotion", "promotions")
    with committed():
        campaigns.start_due_campaigns(campaigns.utcnow())
    queue(SEND).empty()
    with committed():
        assert campaigns.plan(campaign_id) == 6
    assert queue(SEND).count >= 3  # senders were enqueued range by range, not once at the end
    with committed():
        assert campaigns.plan(campaign_id) == 6  # again: the same rows, none added
    assert planned_rows(campaign_id) == 6
    drain(app)
    received = Counter(rcpt for message in smtp.messages for rcpt in message.rcpt_tos)
    assert received == Counter({f"c{i}@example.com": 1 for i in range(10) if i % 3})
    assert db.session.get(Campaign, campaign_id).status == CampaignStatus.DONE  # type: ignore[union-attr]


def test_a_sender_that_runs_out_of_rows_before_the_plan_ends_does_not_finish_it(
    app: Flask, small_steps: None
) -> None:
    make_contact("one@example.com", ("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    with committed():
        campaign = db.session.get(Campaign, campaign_id)
        campaign.status = CampaignStatus.SENDING  # type: ignore[union-attr]
    # Every planned row is settled, but the plan has not ended (planned_at is unset).
    with committed():
        assert campaigns.finish_if_done(campaign_id) is False
    assert db.session.get(Campaign, campaign_id).status == CampaignStatus.SENDING  # type: ignore[union-attr]
    with committed():
        campaigns.plan(campaign_id)
    db.session.execute(
        Delivery.__table__.update()
        .where(Delivery.campaign_id == campaign_id)
        .values(status=DeliveryStatus.SENT)
    )
    db.session.commit()
    with committed():
        assert campaigns.finish_if_done(campaign_id) is True


def test_a_campaign_cancelled_while_it_is_planned_stops_planning(
    app: Flask, monkeypatch: pytest.MonkeyPatch, small_steps: None
) -> None:
    for i in range(9):
        make_contact(f"c{i}@example.com", ("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    with committed():
        campaigns.start_due_campaigns(campaigns.utcnow())
    steps = 0
    still_sending = campaigns._still_sending

    def cancel_after_the_first_range(cid: int) -> bool:
        nonlocal steps
        steps += 1
        if steps == 2:  # staff cancel between two ranges
            db.session.execute(
                Campaign.__table__.update()
                .where(Campaign.id == cid)
                .values(status=CampaignStatus.CANCELLED)
            )
        return still_sending(cid)

    monkeypatch.setattr(campaigns, "_still_sending", cancel_after_the_first_range)
    with committed():
        assert campaigns.plan(campaign_id) == 0
    assert 0 < planned_rows(campaign_id) < 9  # the first range only
    assert db.session.get(Campaign, campaign_id).planned_at is None  # type: ignore[union-attr]
