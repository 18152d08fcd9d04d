"""Each use case captures its event in its own transaction: a hard bounce's suppression, a
privacy request opened and completed, a campaign that finished; data holds ids, not addresses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from notifier.domain.webhooks import EVENT_TYPES
from notifier.feedback import bounce_handling as bounces
from notifier.infra.extensions import db
from notifier.models import Notice, utcnow
from notifier.notices import notices
from notifier.operations import webhook_endpoints as endpoints
from notifier.privacy import requests as privacy
from notifier.processes.scheduler import tick
from tests.bounce_samples import sample
from tests.conftest import configure
from tests.integration.delivery.test_messages import renewal_type
from tests.integration.helpers import (
    committed,
    drain,
    make_contact,
    sample_data,
    start_campaign,
)
from tests.smtp_server import SmtpTestServer
from tests.webhook_receiver import Receiver, receiving


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url)
        yield server


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    configure(app, WEBHOOK_ALLOWED_NETWORKS=["127.0.0.1/32"])
    with receiving() as server:
        with committed():
            _, server.secret = endpoints.create(server.url, list(EVENT_TYPES), "", "test")
        yield server


def test_a_hard_bounce_reports_the_suppression_and_the_notice(
    app: Flask, smtp: SmtpTestServer, receiver: Receiver
) -> None:
    contact_id = make_contact("renew@example.org", external_ref="KH-9")
    body = sample_data("renewal")
    with committed():
        notice_id = notices.trigger(
            renewal_type(), contact_id, body, "inv-9", notices.request_fingerprint(body)
        ).notice.id
    drain(app)
    [message] = smtp.messages
    db.session.remove()
    notice = db.session.get(Notice, notice_id)
    assert notice is not None
    raw = sample("outlook_ndr.eml", verp=message.mail_from, rcpt="renew@example.org",
                 message_id=str(notice.message_id))  # fmt: skip
    with committed():
        bounces.receive_mail(raw, [message.mail_from])
    drain(app)
    [suppressed] = receiver.of_type("contact.suppressed")
    assert suppressed["data"] == {
        "contact_id": contact_id, "external_ref": "KH-9", "scope": "all", "reason": "hard_bounce",
    }  # fmt: skip
    statuses = [e["data"]["status"] for e in receiver.of_type("notice.status_changed")]
    assert statuses == ["sent", "bounced"]
    assert "renew@example.org" not in str(receiver.posts)


def test_a_privacy_request_is_reported_when_opened_and_when_completed(
    app: Flask, receiver: Receiver
) -> None:
    contact_id = make_contact("xoa@example.com")
    with committed():
        request = privacy.request_erasure(contact_id, privacy.Requester("203.0.113.9", "UA"))
        request_id = request.id
    with committed():
        privacy.erase(request_id, None)
    drain(app)
    [opened] = receiver.of_type("privacy_request.created")
    [completed] = receiver.of_type("privacy_request.completed")
    assert opened["data"] == {
        "privacy_request_id": request_id, "kind": "erasure", "status": "received",
        "contact_id": contact_id,
    }  # fmt: skip
    assert completed["data"]["status"] == "completed"
    assert "xoa@example.com" not in str(receiver.posts)


def test_a_finished_campaign_is_reported_once_with_its_counts(
    app: Flask, smtp: SmtpTestServer, receiver: Receiver
) -> None:
    make_contact("a@example.com", grants=("promotions",))
    make_contact("b@example.com", grants=("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    for _ in range(3):
        tick(utcnow())
        drain(app)
    [finished] = receiver.of_type("campaign.finished")
    assert finished["data"]["campaign_id"] == campaign_id
    assert finished["data"]["status"] == "done" and finished["data"]["counts"]["sent"] == 2
