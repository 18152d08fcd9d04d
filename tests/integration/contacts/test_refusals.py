"""Refusals by email (SMTP receiver and webhook) and by phone: withdrawn, one confirmation each."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.contacts import refusals
from notifier.delivery.composer import links_for
from notifier.domain.consent_rules import ConsentStatus
from notifier.feedback.inbound import handle_message, start_receiver
from notifier.feedback.sender_auth import Resolver
from notifier.models import ConsentSource
from notifier.operations.staff import create_staff
from tests.conftest import configure
from tests.dns_server import LocalDns
from tests.integration.helpers import committed, make_contact
from tests.integration.public_helpers import body_text, deliver, system_mails
from tests.smtp_server import SmtpTestServer

SECRET = "relay-shared-secret-1234"


@pytest.fixture(autouse=True)
def dns(app: Flask) -> Iterator[LocalDns]:
    """Sender authentication asks a local DNS server, never the public one."""
    with LocalDns() as server:
        configure(app, INBOUND_DNS_SERVERS=[server.address])
        yield server


@pytest.fixture
def resolver(dns: LocalDns) -> Resolver:
    return Resolver([dns.address])


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def _mail(sender: str, to: str, subject: str = "unsubscribe", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = "<abc@mail.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Please stop.")
    return message.as_bytes()


def _mailto_address(contact_id: int, purpose: str) -> str:
    mailto = links_for(contact_id, purpose).mailto
    return mailto.removeprefix("mailto:").partition("?")[0]


def test_smtp_receiver_withdraws_by_token_and_by_sender(app: Flask, smtp: SmtpTestServer) -> None:
    first = make_contact("an@example.com", grants=("promotions", "events"))
    second = make_contact("bo@example.com", grants=("promotions", "events"))
    receiver = start_receiver(app, "127.0.0.1", 0)
    try:
        with smtplib.SMTP("127.0.0.1", receiver.port) as client:
            address = _mailto_address(first, "events")
            client.sendmail("an@example.com", [address], _mail("an@example.com", address))
            plain = "unsubscribe@dcnet.example.vn"
            client.sendmail("x@example.org", [plain], _mail("Bo <BO@example.com>", plain, "hi"))
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail(
                    "bo@example.com", ["sales@dcnet.example.vn"], b"Subject: x\r\n\r\nx"
                )
    finally:
        receiver.stop()
    assert consent.states(first)["events"] is ConsentStatus.WITHDRAWN
    assert consent.states(first)["promotions"] is ConsentStatus.GRANTED  # token scoped to events
    states = consent.states(second)  # an unauthenticated From only asks the address to confirm
    assert states["events"] is ConsentStatus.GRANTED
    assert states["promotions"] is ConsentStatus.GRANTED
    assert {e.source for e in consent.history(first) if e.action == "withdraw"} == {"email"}
    messages = {m["To"]: m for m in deliver(app, smtp)}
    assert sorted(messages) == ["an@example.com", "bo@example.com"]
    assert "Thời điểm nhận yêu cầu" in body_text(messages["an@example.com"])
    assert "https://notifier.test/r/" in body_text(messages["bo@example.com"])


def test_repeated_and_unknown_mail_sends_nothing_more(app: Flask, resolver: Resolver) -> None:
    contact_id = make_contact("cu@example.com", grants=("promotions",))
    address = _mailto_address(contact_id, "promotions")
    raw = _mail("cu@example.com", address)
    with committed():
        assert handle_message(raw, [address], resolver=resolver).refused == [contact_id]
    with committed():
        assert handle_message(raw, [address], resolver=resolver).refused == [contact_id]
    assert len(system_mails("refusal")) == 1
    with committed():
        stranger = handle_message(
            _mail("who@example.org", "unsubscribe@dcnet.example.vn"),
            ["unsubscribe@dcnet.example.vn"],
            resolver=resolver,
        )
    assert stranger.refused == [] and stranger.ignored
    with committed():
        bounce = handle_message(
            _mail("cu@example.com", address, Auto_Submitted="auto-replied"),
            [address],
            resolver=resolver,
        )
    assert bounce.ignored and len(system_mails()) == 1
    tampered = address.replace("+", "+x")
    with committed():
        other = handle_message(_mail("nobody@example.org", tampered), [tampered], resolver=resolver)
    assert other.refused == []


def test_webhook_needs_the_secret_and_withdraws(app: Flask, client: FlaskClient) -> None:
    contact_id = make_contact("da@example.com", grants=("promotions",))
    address = _mailto_address(contact_id, "promotions")
    raw = _mail("da@example.com", address)
    assert client.post("/inbound/email", data=raw).status_code == 404  # not configured
    configure(app, INBOUND_WEBHOOK_SECRET=SECRET)
    headers = {"Content-Type": "message/rfc822"}
    wrong = client.post(
        "/inbound/email", data=raw, headers={**headers, "Authorization": "Bearer no"}
    )
    assert wrong.status_code == 401
    assert consent.states(contact_id)["promotions"] is ConsentStatus.GRANTED
    auth = {**headers, "Authorization": f"Bearer {SECRET}"}
    assert client.post("/inbound/email", data=b"  ", headers=auth).status_code == 400
    ok = client.post("/inbound/email", data=raw, headers=auth)
    assert ok.status_code == 200 and ok.get_json()["refused"] == [contact_id]
    assert consent.states(contact_id)["promotions"] is ConsentStatus.WITHDRAWN
    # Recipients may also come as parameters, e.g. from a relay that rewrites To.
    other = make_contact("ed@example.com", grants=("events",))
    target = _mailto_address(other, "events")
    forwarded = _mail("ed@example.com", "list@example.org")
    done = client.post(
        "/inbound/email", query_string={"rcpt": target}, data=forwarded, headers=auth
    )
    assert done.get_json()["refused"] == [other]
    assert len(system_mails("refusal")) == 2


def test_phone_refusal_by_staff_gets_the_same_confirmation(
    app: Flask, smtp: SmtpTestServer
) -> None:
    staff, _ = create_staff("care@example.com", "admin", name="CSKH")
    contact_id = make_contact("fi@example.com", grants=("promotions", "events"), locale="en")
    evidence = consent.Evidence(source=ConsentSource.PHONE, staff_id=staff.id)
    with committed():
        assert refusals.refuse(contact_id, None, evidence).withdrawn == ["promotions", "events"]
    with committed():
        assert refusals.refuse(contact_id, None, evidence).withdrawn == []
    [message] = deliver(app, smtp)
    assert message["Subject"] == "Confirmation of your refusal"
    assert "ALL our advertising" in body_text(message)
    assert "Auto-Submitted" in message and message["List-Unsubscribe"].startswith("<https://")


def test_a_confirmation_the_relay_refused_for_now_is_sent_later(
    app: Flask, smtp: SmtpTestServer
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from notifier.delivery import system_mail
    from notifier.infra.extensions import db
    from notifier.models import SystemMail, utcnow
    from tests.integration.helpers import drain

    smtp.rcpt_replies["later@example.com"] = "451 4.3.0 try again later"
    configure(app, SMTP_URL=smtp.url)
    contact_id = make_contact("later@example.com", grants=("promotions",))
    with committed():
        refusals.refuse(contact_id, None, consent.Evidence(source=ConsentSource.EMAIL))
    drain(app)
    [mail] = system_mails()
    assert (mail.status, mail.attempts) == ("queued", 1) and smtp.messages == []

    del smtp.rcpt_replies["later@example.com"]
    with committed():
        assert system_mail.reconcile(utcnow()) == 0  # still inside its back-off
    with committed():  # the back-off passes (a job arriving before it would claim nothing)
        db.session.execute(
            update(SystemMail).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    with committed():
        assert system_mail.reconcile(utcnow()) == 1
    drain(app)
    [mail] = system_mails()
    assert mail.status == "sent" and [m.rcpt_tos for m in smtp.messages] == [["later@example.com"]]
