"""A campaign from schedule to the SMTP server: only the consented, exactly once, at claim time."""

from __future__ import annotations

import email
import email.policy
from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import select

from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import templates
from notifier.contacts import consent_ledger as consent
from notifier.delivery.rendering.errors import TemplateError
from notifier.domain.consent_rules import Reason
from notifier.domain.errors import ValidationFailed
from notifier.infra.context import suppression_salt
from notifier.infra.extensions import db
from notifier.infra.hashing import address_hash
from notifier.models import (
    Campaign,
    CampaignStatus,
    ConsentSource,
    Contact,
    Delivery,
    DeliveryStatus,
    Suppression,
    Template,
)
from tests.conftest import configure
from tests.integration.helpers import (
    drain,
    layout_template,
    make_contact,
    sample_data,
    start_campaign,
)
from tests.smtp_server import SmtpTestServer


def recipients(server: SmtpTestServer) -> Counter[str]:
    return Counter(rcpt for message in server.messages for rcpt in message.rcpt_tos)


def deliveries(campaign_id: int) -> dict[str, Delivery]:
    rows = db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id))
    return {row.contact_id: row for row in rows}  # type: ignore[misc]


def test_only_contacts_with_consent_receive(app: Flask, smtp: SmtpTestServer) -> None:
    granted = [make_contact(f"yes{i}@example.com", ("promotions",)) for i in range(3)]
    make_contact("never@example.com")
    make_contact("events-only@example.com", ("events",))
    withdrawn = make_contact("withdrew@example.com", ("promotions",))
    consent.withdraw(withdrawn, ["promotions"], consent.Evidence(ConsentSource.ONE_CLICK))
    suppressed = make_contact("bounced@example.com", ("promotions",))
    db.session.add(
        Suppression(
            address_hash=address_hash(suppression_salt(), "bounced@example.com"),
            scope="all",
            reason="hard_bounce",
        )
    )
    db.session.commit()

    campaign_id = start_campaign("promotion", "promotions")
    drain(app)

    assert recipients(smtp) == Counter({f"yes{i}@example.com": 1 for i in range(3)})
    rows = deliveries(campaign_id)
    assert sorted(rows) == sorted(granted)
    assert all(row.status == DeliveryStatus.SENT and row.consent_event_id for row in rows.values())
    assert suppressed not in rows
    assert db.session.get(Campaign, campaign_id).status == CampaignStatus.DONE  # type: ignore[union-attr]


def test_the_disclosed_weekly_frequency_holds(app: Flask, smtp: SmtpTestServer) -> None:
    person = make_contact("weekly@example.com", ("promotions",))
    campaign_ids = [start_campaign("promotion", "promotions") for _ in range(3)]
    drain(app)
    assert recipients(smtp) == Counter({"weekly@example.com": 2})  # DCNET discloses 2 a week
    third = deliveries(campaign_ids[2])[person]
    assert (third.status, third.reason) == ("deferred", Reason.FREQUENCY_EXCEEDED.value)


def test_a_withdrawal_before_the_claim_wins(app: Flask, smtp: SmtpTestServer) -> None:
    stays = make_contact("stays@example.com", ("promotions",))
    leaves = make_contact("leaves@example.com", ("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    campaigns.plan(campaign_id)  # the audience snapshot still holds both
    consent.withdraw(leaves, ["promotions"], consent.Evidence(ConsentSource.UNSUBSCRIBE_LINK))
    campaigns.run_send_job(campaign_id)

    assert recipients(smtp) == Counter({"stays@example.com": 1})
    rows = deliveries(campaign_id)
    assert rows[stays].status == DeliveryStatus.SENT
    assert (rows[leaves].status, rows[leaves].reason) == ("skipped", Reason.WITHDRAWN.value)


@pytest.mark.parametrize("profile_name", ["caycanhhoanggia"])
def test_the_fourth_advertising_email_in_24_hours_waits(app: Flask, smtp: SmtpTestServer) -> None:
    purposes = ("product_info", "customer_care", "customer_care", "project_publicity")
    person = make_contact("busy@example.com", tuple(set(purposes)))
    campaign_ids = [start_campaign("promotion", purpose) for purpose in purposes]
    drain(app)

    assert recipients(smtp) == Counter({"busy@example.com": 3})
    waiting = [deliveries(c)[person] for c in campaign_ids]
    deferred = [row for row in waiting if row.status == DeliveryStatus.DEFERRED]
    assert len(deferred) == 1 and deferred[0].reason == Reason.CAP_REACHED.value
    first_sent = min(row.sent_at for row in waiting if row.sent_at)
    assert deferred[0].next_attempt_at is not None
    assert abs((deferred[0].next_attempt_at - first_sent).total_seconds() - 24 * 3600) < 5


def test_a_permanent_rejection_fails_with_its_code(app: Flask, smtp: SmtpTestServer) -> None:
    smtp.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    gone = make_contact("gone@example.com", ("promotions",))
    make_contact("fine@example.com", ("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    drain(app)

    row = deliveries(campaign_id)[gone]
    assert (row.status, row.smtp_code, row.reason) == ("failed", 550, "smtp_permanent")
    assert recipients(smtp) == Counter({"fine@example.com": 1})


def test_a_temporary_rejection_is_retried_later(app: Flask, smtp: SmtpTestServer) -> None:
    # A first wait longer than a send job waits for a retry: the retry is the scheduler's.
    configure(app, SMTP_RETRY_SECONDS=30)
    smtp.rcpt_replies["later@example.com"] = "451 4.7.1 try again later"
    later = make_contact("later@example.com", ("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    drain(app)
    row = deliveries(campaign_id)[later]
    assert (row.status, row.smtp_code, row.attempts) == ("deferred", 451, 1)
    assert db.session.get(Campaign, campaign_id).status == CampaignStatus.SENDING  # type: ignore[union-attr]

    del smtp.rcpt_replies["later@example.com"]
    row.next_attempt_at = row.claimed_at
    db.session.commit()
    campaigns.run_send_job(campaign_id)
    assert recipients(smtp) == Counter({"later@example.com": 1})
    assert db.session.get(Campaign, campaign_id).status == CampaignStatus.DONE  # type: ignore[union-attr]


def test_a_cancelled_campaign_accounts_for_everyone(app: Flask, smtp: SmtpTestServer) -> None:
    for i in range(3):
        make_contact(f"c{i}@example.com", ("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    campaigns.plan(campaign_id)
    campaigns.cancel(campaign_id)
    drain(app)
    assert smtp.messages == []
    assert campaigns.counters(campaign_id) == {"skipped": 3}
    assert campaigns.reasons(campaign_id) == {"campaign_cancelled": 3}


def test_audience_filters_narrow_the_plan(app: Flask, smtp: SmtpTestServer) -> None:
    make_contact("vip@example.com", ("promotions",), tags="vip,hanoi", locale="en")
    make_contact("plain@example.com", ("promotions",), tags="hanoi")
    assert campaigns.count_audience("promotions", {}) == 2
    assert campaigns.count_audience("promotions", {"tags": ["vip"]}) == 1
    assert campaigns.count_audience("promotions", {"tags": ["hanoi"], "locale": "vi"}) == 1
    start_campaign("promotion", "promotions", tags=["vip"])
    drain(app)
    assert recipients(smtp) == Counter({"vip@example.com": 1})


def test_renewal_campaigns_need_a_service_purpose(app: Flask) -> None:
    with pytest.raises(ValidationFailed, match="template"):
        campaigns.create_campaign(
            campaigns.CampaignInput("x", "renewal", "promotions", template_id=999)
        )


def test_a_template_that_reaches_for_python_internals_fails_safely(app: Flask) -> None:
    data = templates.TemplateInput(
        name="evil",
        kind="promotion",
        purpose_key="promotions",
        subject="{{ ''.__class__.__mro__ }}",
        body_mjml="<mjml><mj-body></mj-body></mjml>",
    )
    with pytest.raises(TemplateError):
        templates.save_template(data)


def test_received_messages_parse_without_defects(app: Flask, smtp: SmtpTestServer) -> None:
    make_contact("lan@example.com", ("promotions",), name="Nguyễn Thị Lan")
    start_campaign("promotion", "promotions")
    drain(app)
    (received,) = smtp.messages
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert not message.defects
    assert str(message["Subject"]).startswith("[QC] ")
    assert "Nguyễn Thị Lan" in str(message["To"])


def test_an_event_carries_its_calendar_invitation(
    app: Flask, smtp: SmtpTestServer, pinned_clock: object
) -> None:
    make_contact("guest@example.com", ("events",))
    start_campaign("event", "events")
    drain(app)
    (received,) = smtp.messages
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    (invite,) = [part for part in message.iter_attachments()]
    assert invite.get_content_type() == "text/calendar"
    calendar = invite.get_content()
    calendar = calendar.decode() if isinstance(calendar, bytes) else calendar
    assert "BEGIN:VEVENT" in calendar and "DTSTART:20261217T013000Z" in calendar  # 21 days on


def test_an_event_without_a_start_is_refused(app: Flask) -> None:
    from tests.integration.helpers import layout_template

    with pytest.raises(ValidationFailed, match="starts_at"):
        campaigns.create_campaign(
            campaigns.CampaignInput(
                "x",
                "event",
                "events",
                layout_template("event", "events"),
                data={"event_name": "Hội thảo"},
            )
        )


def test_a_campaign_pauses_itself_when_the_relay_rejects_too_much(
    app: Flask, smtp: SmtpTestServer
) -> None:
    for i in range(120):
        make_contact(f"r{i}@example.com", ("promotions",))
        if i % 2:
            smtp.rcpt_replies[f"r{i}@example.com"] = "554 5.7.1 rejected"
    configure(app, BATCH_SIZE=20)
    campaign_id = start_campaign("promotion", "promotions")
    drain(app)
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None and campaign.status == CampaignStatus.PAUSED
    assert "failed" in campaign.status_reason and "%" in campaign.status_reason
    assert campaigns.counters(campaign_id).get("pending", 0) > 0  # the rest waits for a human


def test_a_recipient_whose_data_breaks_the_template_fails_as_render_failed(
    app: Flask, smtp: SmtpTestServer
) -> None:
    ok = make_contact("ok@example.com", ("promotions",), attributes={"plan": "Gold"})
    broken = make_contact("broken@example.com", ("promotions",), attributes={"plan": "Silver"})
    template_id = layout_template("promotion", "promotions")
    # Set as a template saved before its field was dropped from some contacts would be.
    template = db.session.get(Template, template_id)
    assert template is not None
    template.subject = "Gói {{ contact.plan }} của bạn"
    template.version += 1
    db.session.commit()
    campaign = campaigns.create_campaign(
        campaigns.CampaignInput(
            name="plans",
            kind="promotion",
            purpose_key="promotions",
            template_id=template_id,
            audience={},
            data=sample_data("promotion"),
        )
    )
    campaign_id = campaign.id
    campaigns.schedule(campaign_id)  # preflight passes: everyone has a plan now
    contact = db.session.get(Contact, broken)
    assert contact is not None
    contact.attributes = {}  # dropped between scheduling and sending
    db.session.commit()
    drain(app)
    rows = {c: (r.status, r.reason, r.smtp_code) for c, r in deliveries(campaign_id).items()}
    assert rows[ok] == ("sent", None, 250)
    assert rows[broken] == ("failed", "render_failed", None)
    assert "plan" in deliveries(campaign_id)[broken].smtp_message
    assert recipients(smtp) == Counter({"ok@example.com": 1})
