"""Provider webhooks: SES via SNS, SendGrid and Mailgun, with valid and forged signatures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.contacts import consent_ledger as consent
from notifier.domain.consent_rules import ConsentStatus
from notifier.infra.context import suppression_salt
from notifier.infra.extensions import db
from notifier.infra.hashing import address_hash
from notifier.models import AuditEntry, MailFeedback, Suppression
from tests.conftest import configure
from tests.integration.helpers import make_contact
from tests.provider_signing import (
    CERT_URL,
    TOPIC,
    SendGridSigner,
    SnsSigner,
    mailgun_signature,
    sns_notification,
    sns_timestamp,
)

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def suppressed(email: str) -> set[tuple[str, str]]:
    db.session.rollback()
    digest = address_hash(suppression_salt(), email)
    rows = db.session.scalars(select(Suppression).where(Suppression.address_hash == digest))
    return {(row.scope, row.reason) for row in rows}


def feedback_count() -> int:
    db.session.rollback()
    return int(db.session.scalar(select(func.count()).select_from(MailFeedback)) or 0)


@pytest.fixture
def sns(app: Flask, tmp_path: Path) -> SnsSigner:
    signer = SnsSigner()
    pem = tmp_path / "sns.pem"
    pem.write_bytes(signer.pem)
    configure(app, SES_WEBHOOK=True, SES_TOPIC_ARNS=[TOPIC], SNS_CERTIFICATES={CERT_URL: str(pem)})
    return signer


def ses_bounce(email: str) -> dict:
    return {
        "notificationType": "Bounce",
        "mail": {"source": "thongbao@dcnet.example.vn", "messageId": "0100018f-ses"},
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": email, "status": "5.1.1", "action": "failed",
                 "diagnosticCode": f"smtp; 550 5.1.1 <{email}>: user unknown"},
            ],
        },
    }  # fmt: skip


def test_ses_bounce_and_complaint_with_both_signature_versions(
    app: Flask, client: FlaskClient, sns: SnsSigner
) -> None:
    make_contact("ses1@example.org", grants=("promotions",))
    buyer = make_contact("ses2@example.org", grants=("promotions", "events"))
    body = sns.sign(sns_notification(ses_bounce("ses1@example.org"), "sns-1"), "1")
    response = client.post("/providers/ses", data=json.dumps(body))
    assert response.status_code == 200 and response.get_json() == {"hard_bounce": 1}
    assert suppressed("ses1@example.org") == {("all", "hard_bounce")}
    assert client.post("/providers/ses", data=json.dumps(body)).get_json() == {"ignored": 1}
    complaint = {
        "eventType": "Complaint",
        "mail": {"source": "thongbao@dcnet.example.vn"},
        "complaint": {"complainedRecipients": [{"emailAddress": "ses2@example.org"}],
                      "complaintFeedbackType": "abuse"},
    }  # fmt: skip
    signed = sns.sign(sns_notification(complaint, "sns-2"), "2")
    assert client.post("/providers/ses", data=json.dumps(signed)).get_json() == {"complaint": 1}
    assert suppressed("ses2@example.org") == {("advertising", "complaint")}
    db.session.rollback()
    states = consent.states(buyer)
    assert (states["promotions"], states["events"]) == (ConsentStatus.WITHDRAWN,) * 2
    assert feedback_count() == 2


@pytest.mark.parametrize(
    "change",
    [
        {"Message": json.dumps(ses_bounce("victim@example.org"))},
        {"SigningCertURL": "https://attacker.example/SimpleNotificationService.pem"},
        {"SigningCertURL": "http://sns.ap-southeast-1.amazonaws.com/SimpleNotificationService.pem"},
        {"TopicArn": "arn:aws:sns:ap-southeast-1:999999999999:other"},
        {"Signature": "AAAA"},
        {"SignatureVersion": "9"},
    ],
)
def test_forged_sns_messages_change_nothing(
    app: Flask, client: FlaskClient, sns: SnsSigner, change: dict
) -> None:
    make_contact("victim@example.org", grants=("promotions",))
    body = sns.sign(sns_notification(ses_bounce("someone@example.org"), "sns-9"))
    response = client.post("/providers/ses", data=json.dumps({**body, **change}))
    assert response.status_code == 403
    assert suppressed("victim@example.org") == set() and feedback_count() == 0


def test_sns_subscription_is_recorded_not_fetched(
    app: Flask, client: FlaskClient, sns: SnsSigner
) -> None:
    url = f"https://sns.ap-southeast-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}"
    body = sns.sign(
        {"Type": "SubscriptionConfirmation", "MessageId": "sub-1", "Token": "tok",
         "TopicArn": TOPIC, "Message": "You have chosen to subscribe", "SubscribeURL": url,
         "Timestamp": sns_timestamp()}
    )  # fmt: skip
    response = client.post("/providers/ses", data=json.dumps(body))
    assert response.status_code == 200 and response.get_json() == {"SubscriptionConfirmation": 1}
    db.session.rollback()
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "provider.ses.SubscriptionConfirmation")
    )
    assert entry is not None and entry.details["subscribe_url"] == url


def test_ses_webhook_rejects_bad_bodies(app: Flask, client: FlaskClient, sns: SnsSigner) -> None:
    assert client.post("/providers/ses", data=b"not json").status_code == 400
    assert client.post("/providers/ses", data=b"[1, 2]").status_code == 400
    broken = sns.sign(sns_notification({"notificationType": "Bounce"}, "sns-3"))
    assert client.post("/providers/ses", data=json.dumps(broken)).status_code == 400
    huge = b"{" + b" " * 1_100_000 + b"}"
    assert client.post("/providers/ses", data=huge).status_code == 413
    configure(app, SES_WEBHOOK=False)
    assert client.post("/providers/ses", data=b"{}").status_code == 404


def test_sendgrid_signed_events(app: Flask, client: FlaskClient) -> None:
    signer = SendGridSigner()
    make_contact("sg1@example.org", grants=("promotions",))
    buyer = make_contact("sg2@example.org", grants=("promotions",))
    assert client.post("/providers/sendgrid", data=b"[]").status_code == 404
    configure(app, SENDGRID_WEBHOOK_PUBLIC_KEY=signer.public_key)
    events = [
        {"email": "sg1@example.org", "event": "bounce", "type": "bounce", "status": "5.1.1",
         "reason": "550 5.1.1 The email account that you tried to reach does not exist",
         "sg_event_id": "sg-1", "timestamp": 1732414364},
        {"email": "sg2@example.org", "event": "spamreport", "sg_event_id": "sg-2"},
        {"email": "sg3@example.org", "event": "delivered", "sg_event_id": "sg-3"},
    ]  # fmt: skip
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    forged = client.post("/providers/sendgrid", data=body + b" ",
                         headers=signer.headers(body, stamp))  # fmt: skip
    assert forged.status_code == 403 and feedback_count() == 0
    stale = str(int(time.time()) - 7200)
    old = client.post("/providers/sendgrid", data=body, headers=signer.headers(body, stale))
    assert old.status_code == 403
    ok = client.post("/providers/sendgrid", data=body, headers=signer.headers(body, stamp))
    assert ok.status_code == 200 and ok.get_json() == {"hard_bounce": 1, "complaint": 1}
    assert suppressed("sg1@example.org") == {("all", "hard_bounce")}
    assert consent.states(buyer)["promotions"] is ConsentStatus.WITHDRAWN
    garbage = b'{"not": "a list"}'
    bad = client.post("/providers/sendgrid", data=garbage, headers=signer.headers(garbage, stamp))
    assert bad.status_code == 400


def mailgun_body(event: dict, key: str = MAILGUN_KEY, age: int = 0) -> bytes:
    signature = mailgun_signature(key, str(int(time.time()) - age), f"token-{event['id']}")
    return json.dumps({"signature": signature, "event-data": event}).encode()


def test_mailgun_signed_events(app: Flask, client: FlaskClient) -> None:
    buyer = make_contact("mg1@example.org", grants=("promotions", "events"))
    make_contact("mg2@example.org", grants=("promotions",))
    complained = {"id": "mg-1", "event": "complained", "recipient": "mg1@example.org"}
    assert client.post("/providers/mailgun", data=mailgun_body(complained)).status_code == 404
    configure(app, MAILGUN_SIGNING_KEY=MAILGUN_KEY)
    forged = client.post("/providers/mailgun", data=mailgun_body(complained, key="other"))
    assert forged.status_code == 403
    replayed = client.post("/providers/mailgun", data=mailgun_body(complained, age=7200))
    assert replayed.status_code == 403 and feedback_count() == 0
    first = client.post("/providers/mailgun", data=mailgun_body(complained))
    assert first.get_json() == {"complaint": 1}
    # The same token again is a replay (tests/security/feedback/test_webhook_replay.py covers it).
    assert client.post("/providers/mailgun", data=mailgun_body(complained)).status_code == 403
    assert consent.states(buyer)["events"] is ConsentStatus.WITHDRAWN
    failed = {
        "id": "mg-2", "event": "failed", "severity": "permanent", "recipient": "mg2@example.org",
        "reason": "bounce",
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"},
    }  # fmt: skip
    assert client.post("/providers/mailgun", data=mailgun_body(failed)).get_json() == {
        "hard_bounce": 1
    }
    assert suppressed("mg2@example.org") == {("all", "hard_bounce")}
    temporary = {**failed, "id": "mg-3", "severity": "temporary"}
    assert client.post("/providers/mailgun", data=mailgun_body(temporary)).get_json() == {}
    unsigned = json.dumps({"event-data": failed}).encode()
    assert client.post("/providers/mailgun", data=unsigned).status_code == 403
    assert client.post("/providers/mailgun", data=b"\xff\xfe").status_code == 400
    assert feedback_count() == 2
