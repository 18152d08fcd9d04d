"""Issue #13 item 5: forged provider webhooks, by replayed Mailgun tokens and foreign SNS topics."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.domain.consent_rules import ConsentStatus
from notifier.infra.settings import settings_of
from tests.conftest import configure
from tests.integration.feedback.test_provider_webhooks import feedback_count, ses_bounce, suppressed
from tests.integration.helpers import make_contact
from tests.provider_signing import CERT_URL, TOPIC, SnsSigner, mailgun_signature, sns_notification

MAILGUN_KEY = "key-secstaff-signing-key"
OTHER_ACCOUNT_TOPIC = "arn:aws:sns:ap-southeast-1:999999999999:attacker-feedback"


@pytest.fixture
def mailgun(app: Flask) -> None:
    configure(app, MAILGUN_SIGNING_KEY=MAILGUN_KEY)


def _mailgun(event: dict, signature: dict[str, str]) -> bytes:
    return json.dumps({"signature": signature, "event-data": event}).encode()


def test_a_captured_mailgun_signature_cannot_carry_a_forged_event(
    client: FlaskClient, mailgun: None
) -> None:
    make_contact("real@example.org", grants=("promotions",))
    victim = make_contact("victim@example.org", grants=("promotions", "events"))
    captured = mailgun_signature(MAILGUN_KEY, str(int(time.time())), "tok-7f3a9c")
    delivered = {"id": "mg-d1", "event": "delivered", "recipient": "real@example.org"}
    assert client.post("/providers/mailgun", data=_mailgun(delivered, captured)).status_code == 200
    forged = {"id": "mg-x1", "event": "complained", "recipient": "victim@example.org"}
    for attempt in range(2):
        forged_event = {**forged, "id": f"mg-x{attempt}"}
        response = client.post("/providers/mailgun", data=_mailgun(forged_event, captured))
        assert response.status_code == 403, response.get_json()
    assert consent.states(victim)["promotions"] is ConsentStatus.GRANTED
    assert consent.states(victim)["events"] is ConsentStatus.GRANTED
    assert feedback_count() == 0


def test_a_stale_or_future_mailgun_timestamp_is_refused(client: FlaskClient, mailgun: None) -> None:
    victim = make_contact("victim@example.org", grants=("promotions",))
    forged = {"id": "mg-x2", "event": "complained", "recipient": "victim@example.org"}
    for shift, token in ((-7200, "tok-old"), (7200, "tok-future")):
        signature = mailgun_signature(MAILGUN_KEY, str(int(time.time()) + shift), token)
        assert (
            client.post("/providers/mailgun", data=_mailgun(forged, signature)).status_code == 403
        )
    assert consent.states(victim)["promotions"] is ConsentStatus.GRANTED


@pytest.fixture
def sns(app: Flask, tmp_path: Path) -> SnsSigner:
    """SNS webhooks on, certificate pinned, and SES_TOPIC_ARNS left at its default (empty)."""
    signer = SnsSigner()
    pem = tmp_path / "sns.pem"
    pem.write_bytes(signer.pem)
    configure(app, SES_WEBHOOK=True, SNS_CERTIFICATES={CERT_URL: str(pem)})
    assert not settings_of(app).SES_TOPIC_ARNS
    return signer


def test_sns_is_refused_until_a_topic_is_configured(
    app: Flask, client: FlaskClient, sns: SnsSigner
) -> None:
    make_contact("victim@example.org", grants=("promotions",))
    message = {**sns_notification(ses_bounce("victim@example.org"), "sns-a1")}
    message["TopicArn"] = OTHER_ACCOUNT_TOPIC
    response = client.post("/providers/ses", data=json.dumps(sns.sign(message)))
    assert response.status_code == 403 and "SES_TOPIC_ARNS" in response.get_json()["error"]
    assert suppressed("victim@example.org") == set() and feedback_count() == 0
    configure(app, SES_TOPIC_ARNS=[TOPIC])
    response = client.post("/providers/ses", data=json.dumps(sns.sign(message)))
    assert response.status_code == 403
    assert suppressed("victim@example.org") == set() and feedback_count() == 0


@pytest.mark.parametrize("age", [timedelta(hours=2), timedelta(hours=-2), timedelta(days=400)])
def test_a_stale_or_future_sns_message_is_refused(
    app: Flask, client: FlaskClient, sns: SnsSigner, age: timedelta
) -> None:
    configure(app, SES_TOPIC_ARNS=[TOPIC])
    make_contact("victim@example.org", grants=("promotions",))
    message = sns.sign(sns_notification(ses_bounce("victim@example.org"), "sns-s1", age))
    response = client.post("/providers/ses", data=json.dumps(message))
    assert response.status_code == 403
    assert suppressed("victim@example.org") == set() and feedback_count() == 0
    fresh = sns.sign(sns_notification(ses_bounce("victim@example.org"), "sns-s2"))
    assert client.post("/providers/ses", data=json.dumps(fresh)).status_code == 200
