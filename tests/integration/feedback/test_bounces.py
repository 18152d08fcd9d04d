"""Bounces, complaints and auto-replies through the real SMTP receiver and the inbound webhook."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import timedelta
from typing import TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from notifier.campaigns import lifecycle as campaigns
from notifier.contacts import consent_ledger as consent
from notifier.delivery.composer import envelope_sender, verp_keys
from notifier.domain.bounces import Feedback, Kind, Target, TargetKind, parse_return_path
from notifier.domain.consent_rules import ConsentStatus
from notifier.feedback import bounce_handling as bounces
from notifier.feedback.inbound import start_receiver
from notifier.feedback.rates import campaign_rates, daily_rates
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import (
    BounceScore,
    Campaign,
    CampaignStatus,
    Contact,
    Delivery,
    MailFeedback,
    Notice,
    Suppression,
    utcnow,
)
from notifier.notices import notices
from notifier.processes.worker import run_worker
from tests.bounce_samples import sample
from tests.conftest import configure
from tests.integration.delivery.test_messages import renewal_type
from tests.integration.helpers import committed, drain, make_contact, sample_data, start_campaign
from tests.smtp_server import SmtpTestServer

BOUNCE_DOMAIN = "bounce.dcnet.example.vn"
SECRET = "relay-shared-secret-5678"
T = TypeVar("T")


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url, BOUNCE_DOMAIN=BOUNCE_DOMAIN)
        yield server


def send_campaign(app: Flask, emails: list[str]) -> tuple[int, dict[str, Delivery]]:
    for email in emails:
        make_contact(email, grants=("promotions", "events"))
    campaign_id = start_campaign("promotion", "promotions")
    drain(app)
    return campaign_id, deliveries(campaign_id)


def deliveries(campaign_id: int) -> dict[str, Delivery]:
    db.session.rollback()  # see what the receiver's thread committed
    rows = db.session.execute(
        select(Contact.email, Delivery)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id)
    ).all()
    return {str(email): delivery for email, delivery in rows}


def report(name: str, delivery: Delivery, email: str) -> bytes:
    return sample(name, verp=envelope_sender(delivery.id), rcpt=email,
                  message_id=delivery.message_id or "", bounce_domain=BOUNCE_DOMAIN)  # fmt: skip


def fresh(model: type[T], key: object) -> T:
    db.session.rollback()  # see what other threads and processes committed
    found = db.session.get(model, key)
    assert found is not None
    return found


def suppressions() -> dict[tuple[str, str], Suppression]:
    db.session.rollback()
    return {(s.address_hash, s.scope): s for s in db.session.scalars(select(Suppression))}


def test_each_message_carries_a_signed_verp_return_path(app: Flask, smtp: SmtpTestServer) -> None:
    _, sent = send_campaign(app, ["an@example.org", "bo@example.org"])
    by_rcpt = {m.rcpt_tos[0]: m.mail_from for m in smtp.messages}
    for email, delivery in sent.items():
        assert by_rcpt[email] == envelope_sender(delivery.id)
        target = parse_return_path(verp_keys(), by_rcpt[email])
        assert target == Target(TargetKind.DELIVERY, delivery.id)
    notice = parse_return_path(verp_keys(), envelope_sender(notice_id=7))
    assert notice == Target(TargetKind.NOTICE, 7)
    configure(app, BOUNCE_DOMAIN="")
    assert envelope_sender(1) == profile().identity.from_address == "thongbao@dcnet.example.vn"


def test_the_corpus_through_the_smtp_receiver(app: Flask, smtp: SmtpTestServer) -> None:
    emails = ["hard@example.org", "full@example.org", "away@example.org", "spam@example.org",
              "late@example.org", "gmail@example.org"]  # fmt: skip
    campaign_id, sent = send_campaign(app, emails)
    samples = {
        "hard@example.org": "postfix_user_unknown.eml",
        "full@example.org": "exim_mailbox_full.eml",
        "away@example.org": "ooo_exchange.eml",
        "spam@example.org": "yahoo_arf.eml",
        "late@example.org": "postfix_delayed.eml",
        "gmail@example.org": "gmail_no_such_user.eml",
    }
    receiver = start_receiver(app, "127.0.0.1", 0)
    try:
        with smtplib.SMTP("127.0.0.1", receiver.port) as client:
            for email, name in samples.items():
                verp = envelope_sender(sent[email].id)
                client.sendmail("", [verp], report(name, sent[email], email))
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("", [envelope_sender(sent["hard@example.org"].id)],
                                sample("malformed_truncated_dsn.eml"))  # fmt: skip
            assert refused.value.smtp_code == 550
            forged = f"b-{sent['away@example.org'].id}-aaaaaaaaaaaaaaaa@{BOUNCE_DOMAIN}"
            lie = sample("postfix_user_unknown.eml", verp=forged, rcpt="away@example.org")
            client.sendmail("", [forged], lie)
    finally:
        receiver.stop()
    after = deliveries(campaign_id)
    assert {e: (d.status, d.reason) for e, d in after.items() if d.status != "sent"} == {
        "hard@example.org": ("bounced", "hard_bounce"),
        "full@example.org": ("bounced", "soft_bounce"),
        "gmail@example.org": ("bounced", "hard_bounce"),
    }
    hashes = {e: contact_hash(e) for e in emails}
    found = suppressions()
    assert set(found) == {
        (hashes["hard@example.org"], "all"),
        (hashes["gmail@example.org"], "all"),
        (hashes["spam@example.org"], "advertising"),
    }
    hard = found[(hashes["hard@example.org"], "all")]
    assert hard.reason == "hard_bounce" and hard.evidence["status"] == "5.1.1"
    assert hard.evidence["delivery_id"] == after["hard@example.org"].id
    assert "@" not in str(hard.evidence)  # no address kept beside the hash
    assert found[(hashes["spam@example.org"], "advertising")].reason == "complaint"
    score = db.session.get(BounceScore, hashes["full@example.org"])
    assert score is not None and score.score == pytest.approx(1.0) and score.bounces == 1
    spam = after["spam@example.org"].contact_id
    assert set(consent.states(spam).values()) >= {ConsentStatus.WITHDRAWN}
    withdrawn = [e for e in consent.history(spam) if e.action == "withdraw"]
    assert {(e.purpose_key, e.source) for e in withdrawn} == {
        ("promotions", "complaint"), ("events", "complaint"),
    }  # fmt: skip
    assert withdrawn[0].evidence["delivery_id"] == after["spam@example.org"].id
    away = after["away@example.org"].contact_id
    assert consent.states(away)["promotions"] is ConsentStatus.GRANTED
    rates = campaign_rates(campaign_id)
    assert (rates.sent, rates.bounces, rates.complaints) == (6, 3, 1)
    [(_, today)] = daily_rates(utcnow(), days=1)
    assert (today.sent, today.bounces, today.complaints) == (6, 3, 1)
    # A suppressed address is left out of the next campaign.
    next_id = start_campaign("promotion", "promotions")
    drain(app)
    assert set(deliveries(next_id)) == {"full@example.org", "away@example.org",
                                        "late@example.org"}  # fmt: skip


def contact_hash(email: str) -> str:
    from notifier.contacts.contacts import find_by_email

    contact = find_by_email(email)
    assert contact is not None and contact.address_hash
    return contact.address_hash


def test_the_webhook_applies_each_report_once(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    campaign_id, sent = send_campaign(app, ["gm@example.org", "ms@example.org"])
    configure(app, INBOUND_WEBHOOK_SECRET=SECRET)
    auth = {"Authorization": f"Bearer {SECRET}", "Content-Type": "message/rfc822"}
    raw = report("gmail_no_such_user.eml", sent["gm@example.org"], "gm@example.org")
    first = client.post("/inbound/email", data=raw, headers=auth)
    assert first.status_code == 200 and first.get_json()["feedback"] == "hard_bounce"
    again = client.post("/inbound/email", data=raw, headers=auth)
    assert again.get_json()["ignored"] == "already applied"
    # Outlook's feedback loop goes to a plain address of the bounce domain: the Message-ID names it.
    jmrp = report("outlook_jmrp.eml", sent["ms@example.org"], "ms@example.org")
    complaint = client.post("/inbound/email", data=jmrp, headers=auth)
    assert complaint.get_json()["feedback"] == "complaint"
    bad = client.post("/inbound/email", data=sample("malformed_missing_status.eml"),
                      headers=auth, query_string={"rcpt": f"x@{BOUNCE_DOMAIN}"})  # fmt: skip
    assert bad.status_code == 422 and "delivery-status" in bad.get_json()["error"]
    unknown = sample("postfix_user_unknown.eml", verp=f"fbl@{BOUNCE_DOMAIN}", message_id="a@b")
    ignored = client.post("/inbound/email", data=unknown, headers=auth)
    assert ignored.get_json()["ignored"] == "no valid VERP address or known Message-ID"
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(MailFeedback)) == 2
    assert campaign_rates(campaign_id).complaints == 1


def test_soft_bounces_decay_and_suppress_past_the_threshold(
    app: Flask, smtp: SmtpTestServer
) -> None:
    _, sent = send_campaign(app, ["soft@example.org", "rare@example.org"])
    full = Feedback(Kind.SOFT_BOUNCE, None, "4.2.2", "mailbox_full", "452 4.2.2 full")
    now = utcnow()
    for day in range(4):  # 1, 1.91, 2.73, 3.47 with a 7-day half-life: suppressed on the 4th
        target = Target(TargetKind.DELIVERY, sent["soft@example.org"].id)
        with committed():
            bounces.apply(full, target, "test", f"soft-{day}", False, now + timedelta(days=day))
    for month in range(4):  # a month apart, each has all but faded
        target = Target(TargetKind.DELIVERY, sent["rare@example.org"].id)
        with committed():
            bounces.apply(
                full, target, "test", f"rare-{month}", False, now + timedelta(days=30 * month)
            )
    found = suppressions()
    assert set(found) == {(contact_hash("soft@example.org"), "all")}
    reason = found[(contact_hash("soft@example.org"), "all")]
    assert reason.reason == "soft_bounces" and reason.evidence["score"] == pytest.approx(3.47, 0.01)
    assert fresh(BounceScore, contact_hash("rare@example.org")).score < 1.1


def test_a_bounced_notice_is_marked_and_reported(app: Flask, smtp: SmtpTestServer) -> None:
    contact_id = make_contact("renew@example.org", name="Công ty Hoa Lan")
    body = sample_data("renewal")
    with committed():
        notice_id = notices.trigger(
            renewal_type(), contact_id, body, "inv-9", notices.request_fingerprint(body)
        ).notice.id
    drain(app)
    [message] = smtp.messages
    assert parse_return_path(verp_keys(), message.mail_from) == Target(TargetKind.NOTICE, notice_id)
    raw = sample("outlook_ndr.eml", verp=message.mail_from, rcpt="renew@example.org",
                 message_id=str(fresh(Notice, notice_id).message_id))  # fmt: skip
    with committed():
        outcome = bounces.receive_mail(raw, [message.mail_from])
    assert outcome.applied == "hard_bounce"
    notice = fresh(Notice, notice_id)
    assert (notice.status, notice.reason) == ("bounced", "hard_bounce")
    assert (contact_hash("renew@example.org"), "all") in suppressions()


def test_a_campaign_pauses_itself_past_the_complaint_rate(app: Flask, smtp: SmtpTestServer) -> None:
    configure(app, BATCH_SIZE=3, SEND_JOBS=1, RATE_MIN_SENT=3)
    for index in range(9):
        make_contact(f"c{index}@example.org", grants=("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    run_worker(app, ["campaigns"], burst=True)  # plan only
    db.session.rollback()
    with committed():
        campaigns.run_send_job(campaign_id, should_stop=lambda: len(smtp.messages) >= 3)
    sent = {e: d for e, d in deliveries(campaign_id).items() if d.status == "sent"}
    assert len(sent) == 3
    email, delivery = next(iter(sent.items()))
    with committed():
        outcome = bounces.receive_mail(report("yahoo_arf.eml", delivery, email),
                                       [envelope_sender(delivery.id)])  # fmt: skip
    assert outcome.applied == "complaint"
    campaign = fresh(Campaign, campaign_id)
    assert campaign.status == CampaignStatus.PAUSED
    assert campaign.status_reason.startswith("paused: 1 complaints (33.33%)")
    # Resumed by staff, it sends one more batch, then the check beside the failure rate stops it.
    with committed():
        campaigns.resume(campaign_id)
    drain(app)
    assert fresh(Campaign, campaign_id).status == CampaignStatus.PAUSED
    statuses = [d.status for d in deliveries(campaign_id).values()]
    assert statuses.count("sent") == 6 and statuses.count("pending") == 3


def test_the_dashboard_counts_bounce_and_complaint_reports(
    app: Flask, smtp: SmtpTestServer
) -> None:
    from notifier.operations.dashboard import overview

    _, sent = send_campaign(app, ["gone@example.org", "angry@example.org", "fine@example.org"])
    hard = Feedback(Kind.HARD_BOUNCE, None, "5.1.1", "no_such_user", "550 5.1.1 unknown")
    spam = Feedback(Kind.COMPLAINT, None, None, "abuse", "complaint")
    bounces.apply(hard, Target(TargetKind.DELIVERY, sent["gone@example.org"].id), "t", "h1", False)
    bounces.apply(spam, Target(TargetKind.DELIVERY, sent["angry@example.org"].id), "t", "c1", False)
    rates = {rate.key: rate for rate in overview(utcnow()).rates}
    assert (rates["bounces"].count, rates["complaints"].count) == (1, 1)
