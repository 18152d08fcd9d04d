"""Pure parts around the classifier: SMTP status meaning, score decay, VERP targets, providers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.bounces import Kind, Target, TargetKind, decayed, next_score, parse_return_path
from notifier.domain.bounces.providers import BadEvent, mailgun_event, sendgrid_events, ses_events
from notifier.domain.bounces.signatures import (
    BadSignature,
    check_age,
    check_sns_certificate_url,
    verify_mailgun,
    verify_sendgrid,
    verify_sns,
)
from notifier.domain.bounces.status import classify_status, redact
from notifier.domain.tokens import verp_address
from tests.provider_signing import CERT_URL, SendGridSigner, SnsSigner, mailgun_signature

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind", "category"),
    [
        ("5.1.1", "550 5.1.1 user unknown", Kind.HARD_BOUNCE, "bad_mailbox"),
        (None, "550 5.1.2 bad destination system address", Kind.HARD_BOUNCE, "bad_domain"),
        ("5.1.10", "556 5.1.10 null MX", Kind.HARD_BOUNCE, "bad_domain"),
        ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled",
         Kind.HARD_BOUNCE, "mailbox_disabled"),
        ("5.2.1", "550 5.2.1 account is disabled", Kind.HARD_BOUNCE, "bad_mailbox"),
        ("5.2.2", "552 5.2.2 over quota", Kind.SOFT_BOUNCE, "mailbox_full"),
        ("5.1.1", "550 5.1.1 mailbox full", Kind.SOFT_BOUNCE, "mailbox_full"),
        ("4.2.2", "452 4.2.2 mailbox full", Kind.SOFT_BOUNCE, "mailbox_full"),
        ("4.7.0", "421 4.7.0 try again later", Kind.SOFT_BOUNCE, "transient"),
        ("5.7.1", "554 5.7.1 message rejected as spam", Kind.SOFT_BOUNCE, "policy"),
        ("5.7.26", "550 5.7.26 unauthenticated email is not accepted", Kind.SOFT_BOUNCE, "policy"),
        ("5.4.4", "550 5.4.4 unable to route", Kind.HARD_BOUNCE, "bad_domain"),
        ("5.3.0", "554 5.3.0 other mail system problem", Kind.SOFT_BOUNCE, "system"),
        ("5.0.0", "550 5.0.0 <a@b.example>: User unknown", Kind.HARD_BOUNCE, "bad_mailbox"),
        (None, "550 Requested action not taken: mailbox unavailable", Kind.HARD_BOUNCE,
         "bad_mailbox"),
        (None, "553 sorry, that domain isn't in my list", Kind.HARD_BOUNCE, "bad_mailbox"),
        (None, "554 transaction failed", Kind.SOFT_BOUNCE, "unexplained"),
        (None, "", Kind.SOFT_BOUNCE, "unexplained"),
        ("2.0.0", "250 2.0.0 OK", Kind.UNKNOWN, "delivered"),
    ],
)  # fmt: skip
def test_status_truth_table(status: str | None, diagnostic: str, kind: Kind, category: str) -> None:
    assert classify_status(status, diagnostic)[:2] == (kind, category)


def test_redact_removes_addresses_and_bounds_length() -> None:
    text = redact("550 5.1.1 <an@example.org>: no such user; also bo@example.net " + "x" * 999)
    assert "@" not in text and text.startswith("550 5.1.1 <address>: no such user")
    assert len(text) == 300


def test_score_halves_every_half_life_and_never_grows_backwards() -> None:
    assert decayed(4.0, NOW, NOW + timedelta(days=7), 7) == pytest.approx(2.0)
    assert decayed(4.0, NOW, NOW - timedelta(days=7), 7) == 4.0
    assert next_score(0.0, None, NOW, 7) == 1.0
    assert next_score(2.0, NOW, NOW + timedelta(days=14), 7) == pytest.approx(1.5)


def test_verp_targets_are_bound_to_their_kind() -> None:
    keys = {TargetKind.DELIVERY: b"d" * 32, TargetKind.NOTICE: b"n" * 32}
    delivery = verp_address(keys[TargetKind.DELIVERY], 41, "bounce.example.vn")
    notice = verp_address(keys[TargetKind.NOTICE], 41, "bounce.example.vn")
    assert parse_return_path(keys, delivery) == Target(TargetKind.DELIVERY, 41)
    assert parse_return_path(keys, f"<{notice.upper()}>") == Target(TargetKind.NOTICE, 41)
    forged = delivery.replace("b-41-", "b-42-")
    for bad in (forged, "", None, "b-41@x", "x" * 400, "fbl@bounce.example.vn"):
        assert parse_return_path(keys, bad) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.txt",
        "https://s3.amazonaws.com/cert.pem",
        None,
    ],
)
def test_sns_certificate_url_must_be_https_on_an_sns_host(url: str | None) -> None:
    with pytest.raises(BadSignature):
        check_sns_certificate_url(url)


def test_sns_certificate_url_accepted() -> None:
    assert check_sns_certificate_url(CERT_URL) == CERT_URL
    assert check_sns_certificate_url("https://sns.cn-north-1.amazonaws.com.cn/x.pem")


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_signatures_verify_and_tampering_is_refused(version: str) -> None:
    signer = SnsSigner()
    message = signer.sign(
        {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:t", "Message": "{}",
         "Timestamp": "2026-11-24T00:00:00Z", "Subject": "s"},
        version,
    )  # fmt: skip
    verify_sns(message, signer.pem, datetime.now(UTC))
    for field, value in (("Message", '{"x":1}'), ("Subject", "t"), ("SignatureVersion", "3")):
        with pytest.raises(BadSignature):
            verify_sns({**message, field: value}, signer.pem, datetime.now(UTC))
    with pytest.raises(BadSignature):
        verify_sns(message, SnsSigner().pem, datetime.now(UTC))  # another key
    with pytest.raises(BadSignature):
        verify_sns(message, signer.pem, datetime.now(UTC) + timedelta(days=60))  # expired
    with pytest.raises(BadSignature):
        verify_sns({**message, "Signature": "%%%"}, signer.pem, datetime.now(UTC))
    with pytest.raises(BadSignature):
        verify_sns(message, b"not a certificate", datetime.now(UTC))


def test_sendgrid_signature() -> None:
    signer, body = SendGridSigner(), b'[{"event":"bounce"}]'
    headers = signer.headers(body, "1732414364")
    signature = headers["X-Twilio-Email-Event-Webhook-Signature"]
    verify_sendgrid(signer.public_key, signature, "1732414364", body)
    for args in (
        (signer.public_key, signature, "1732414365", body),
        (signer.public_key, signature, "1732414364", body + b" "),
        (SendGridSigner().public_key, signature, "1732414364", body),
        ("bm90IGEga2V5", signature, "1732414364", body),
        (signer.public_key, "", "1732414364", body),
        (signer.public_key, signature, "ŧ", body),
    ):
        with pytest.raises(BadSignature):
            verify_sendgrid(*args)


def test_mailgun_signature_and_age() -> None:
    signed = mailgun_signature("key-1", "1732414364", "tok")
    verify_mailgun("key-1", signed["timestamp"], signed["token"], signed["signature"])
    with pytest.raises(BadSignature):
        verify_mailgun("key-2", signed["timestamp"], signed["token"], signed["signature"])
    with pytest.raises(BadSignature):
        verify_mailgun("key-1", "1732414365", signed["token"], signed["signature"])
    check_age("1732414364", datetime.fromtimestamp(1732414364 + 60, UTC), 300)
    for stamp in ("1732414364", "nan", "inf", "x", None):
        with pytest.raises(BadSignature):
            check_age(stamp, datetime.fromtimestamp(1732414364 + 600, UTC), 300)


def test_ses_bounce_and_complaint_mapping() -> None:
    mail = {
        "source": "b-7-abc@bounce.example.vn",
        "headers": [{"name": "Message-ID", "value": "<d7.aa@dcnet.example.vn>"}],
    }
    bounce = {
        "notificationType": "Bounce",
        "mail": mail,
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": "X@Example.org", "status": "5.1.1",
                 "diagnosticCode": "smtp; 550 5.1.1 user unknown"},
            ],
        },
    }  # fmt: skip
    [event] = ses_events(bounce, "sns-1")
    assert event.event_id == "sns-1:0" and event.message_id == "d7.aa@dcnet.example.vn"
    assert event.return_path == "b-7-abc@bounce.example.vn"
    assert (event.feedback.kind, event.feedback.recipient) == (Kind.HARD_BOUNCE, "x@example.org")
    plain = [{"emailAddress": "x@example.org"}]
    transient = {**bounce, "bounce": {"bounceType": "Transient", "bouncedRecipients": plain}}
    assert ses_events(transient, "sns-2")[0].feedback.kind is Kind.SOFT_BOUNCE
    suppressed = {
        **bounce,
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "Suppressed",
            "bouncedRecipients": plain,
        },
    }
    assert ses_events(suppressed, "sns-3")[0].feedback.kind is Kind.HARD_BOUNCE
    complaint = {
        "eventType": "Complaint",
        "mail": mail,
        "complaint": {"complainedRecipients": [{"emailAddress": "x@example.org"}],
                      "complaintFeedbackType": "abuse"},
    }  # fmt: skip
    assert ses_events(complaint, "sns-4")[0].feedback.kind is Kind.COMPLAINT
    assert ses_events({"notificationType": "Delivery", "mail": mail}, "sns-5") == []
    for broken in (
        {"notificationType": "Bounce", "mail": mail},
        {"notificationType": "Bounce", "bounce": {"bouncedRecipients": "x"}},
        {"notificationType": "Bounce", "bounce": {"bouncedRecipients": [{"emailAddress": 3}]}},
        {"notificationType": "Complaint", "complaint": {"complainedRecipients": [None]}},
    ):
        with pytest.raises(BadEvent):
            ses_events(broken, "sns-6")


def test_sendgrid_and_mailgun_mapping() -> None:
    events = sendgrid_events(
        [
            {"event": "bounce", "type": "bounce", "email": "a@example.org", "status": "5.1.1",
             "reason": "550 5.1.1 no such user", "sg_event_id": "e1", "smtp-id": "<m1@x.vn>"},
            {"event": "bounce", "type": "blocked", "email": "b@example.org", "status": "5.7.1",
             "reason": "blocked", "sg_event_id": "e2"},
            {"event": "spamreport", "email": "c@example.org", "sg_event_id": "e3"},
            {"event": "delivered", "email": "d@example.org", "sg_event_id": "e4"},
        ]
    )  # fmt: skip
    assert [(e.event_id, e.feedback.kind) for e in events] == [
        ("e1", Kind.HARD_BOUNCE), ("e2", Kind.SOFT_BOUNCE), ("e3", Kind.COMPLAINT),
    ]  # fmt: skip
    assert events[0].message_id == "m1@x.vn"
    for broken in ({"event": "bounce"}, [{"event": "bounce", "sg_event_id": "e"}], [1]):
        with pytest.raises(BadEvent):
            sendgrid_events(broken)
    failed = {
        "id": "mg-1", "event": "failed", "severity": "permanent", "recipient": "a@example.org",
        "delivery-status": {"code": 550, "message": "5.1.1 no such user"},
        "message": {"headers": {"message-id": "m2@x.vn"}},
        "envelope": {"sender": "b-9-x@bounce.example.vn"},
    }  # fmt: skip
    event = mailgun_event(failed)
    assert event is not None and event.feedback.kind is Kind.HARD_BOUNCE
    assert (event.message_id, event.return_path) == ("m2@x.vn", "b-9-x@bounce.example.vn")
    assert mailgun_event({**failed, "severity": "temporary"}) is None
    complained = mailgun_event({"id": "mg-2", "event": "complained", "recipient": "a@e.org"})
    assert complained is not None and complained.feedback.kind is Kind.COMPLAINT
    with pytest.raises(BadEvent):
        mailgun_event({"event": "failed"})
    with pytest.raises(BadEvent):
        mailgun_event({**failed, "recipient": None})


def test_provider_bodies_survive_json_round_trip() -> None:
    """What the webhooks receive is JSON text: the mapping takes exactly what json.loads gives."""
    body = json.dumps([{"event": "spamreport", "email": "c@example.org", "sg_event_id": "e"}])
    assert sendgrid_events(json.loads(body))[0].feedback.recipient == "c@example.org"
    assert base64.b64decode(SendGridSigner().public_key)  # DER, as SendGrid shows it
