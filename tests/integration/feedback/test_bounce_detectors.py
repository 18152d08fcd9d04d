"""Bounces only flufl.bounce reads right, through the real SMTP receiver, and one it chokes on."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from notifier.delivery.composer import envelope_sender
from notifier.feedback.inbound import start_receiver
from notifier.infra.extensions import db
from notifier.models import BounceScore, Delivery, MailFeedback
from tests.bounce_samples import MAILMAN, sample
from tests.conftest import configure
from tests.integration.feedback.test_bounces import (
    BOUNCE_DOMAIN,
    contact_hash,
    deliveries,
    report,
    send_campaign,
    suppressions,
)
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def outbox(app: Flask) -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url, BOUNCE_DOMAIN=BOUNCE_DOMAIN)
        yield server


def mailman(name: str, email: str) -> bytes:
    """A real-world bounce from Mailman's corpus, about our contact instead of its own."""
    raw = (MAILMAN / name).read_bytes().replace(b"userx@example.com", email.encode())
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # stored with LF, sent with CRLF


def send(app: Flask, reports: list[tuple[Delivery, bytes]]) -> None:
    receiver = start_receiver(app, "127.0.0.1", 0)
    try:
        with smtplib.SMTP("127.0.0.1", receiver.port) as client:
            for delivery, raw in reports:
                client.sendmail("", [envelope_sender(delivery.id)], raw)
    finally:
        receiver.stop()


@pytest.mark.usefixtures("outbox")
def test_bounces_only_flufl_bounce_reads_right(app: Flask) -> None:
    emails = ["legacy@example.org", "moderated@example.org", "warned@example.org"]
    campaign_id, sent = send_campaign(app, emails)
    send(
        app,
        [
            # Our first-address guess named the postmaster: nothing would be suppressed.
            (sent["legacy@example.org"], report("postfix_legacy_notification.eml",
                                                sent["legacy@example.org"], "legacy@example.org")),
            # An Exchange "non remis" reply we did not recognise at all.
            (sent["moderated@example.org"], mailman("simple_20.txt", "moderated@example.org")),
            # Only a warning: the server keeps trying. Ours alone counted it as a soft bounce.
            (sent["warned@example.org"], mailman("simple_21.txt", "warned@example.org")),
        ],
    )  # fmt: skip
    after = deliveries(campaign_id)
    assert {e: (d.status, d.reason) for e, d in after.items()} == {
        "legacy@example.org": ("bounced", "hard_bounce"),
        "moderated@example.org": ("bounced", "soft_bounce"),
        "warned@example.org": ("sent", None),
    }
    legacy = suppressions()[(contact_hash("legacy@example.org"), "all")]
    assert legacy.reason == "hard_bounce" and legacy.evidence["status"] == "5.1.1"
    assert legacy.evidence["reporter"] == "flufl.bounce"
    assert db.session.get(BounceScore, contact_hash("moderated@example.org")) is not None
    assert db.session.get(BounceScore, contact_hash("warned@example.org")) is None


@pytest.mark.usefixtures("outbox")
def test_garbage_that_breaks_a_flufl_detector_is_refused_and_changes_nothing(app: Flask) -> None:
    campaign_id, sent = send_campaign(app, ["target@example.org"])
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(app, [(sent["target@example.org"], sample("malformed_garbage_bytes.eml"))])
    assert refused.value.smtp_code == 550
    db.session.rollback()
    assert db.session.scalars(select(MailFeedback)).all() == []
    assert deliveries(campaign_id)["target@example.org"].status == "sent"
