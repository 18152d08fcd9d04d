"""Attacks on the unsubscribe mailbox, over real SMTP to the real receiver and over the webhook.

A From header is free to forge: only a valid +token, or a From domain that an aligned DKIM
signature or SPF pass vouches for, may refuse at once. Anything else only asks the address of
record to confirm, through a signed, expiring link whose page changes nothing until its POST.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.delivery.composer import links_for
from notifier.domain.consent_rules import ConsentStatus
from notifier.feedback.inbound import start_receiver
from notifier.models import utcnow
from tests.conftest import configure
from tests.dns_server import LocalDns
from tests.integration.helpers import make_contact
from tests.integration.public_helpers import body_text, csrf_of, deliver, system_mails
from tests.mail_auth import MAILBOX, publish_key, refusal_mail
from tests.smtp_server import SmtpTestServer

VICTIM = "victim@example.com"
ADVERTISING = ("promotions", "events")
SECRET = "relay-shared-secret-1234"


@pytest.fixture
def dns(app: Flask) -> Iterator[LocalDns]:
    with LocalDns() as server:
        configure(app, INBOUND_DNS_SERVERS=[server.address])
        yield server


@pytest.fixture
def receiver(app: Flask, dns: LocalDns) -> Iterator[Controller]:
    controller = start_receiver(app, "127.0.0.1", 0)
    yield controller
    controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def victim(app: Flask) -> int:
    return make_contact(VICTIM, grants=ADVERTISING)


def _send(receiver: Controller, raw: bytes, to: str = MAILBOX, envelope: str = VICTIM) -> None:
    with smtplib.SMTP("127.0.0.1", receiver.port, timeout=30) as client:
        client.sendmail(envelope, [to], raw)


def _states(contact_id: int) -> set[ConsentStatus]:
    states = consent.states(contact_id)
    return {states[key] for key in ADVERTISING}


def _mailto(contact_id: int) -> str:
    return links_for(contact_id, "promotions").mailto.removeprefix("mailto:").partition("?")[0]


def _asked_only(contact_id: int) -> None:
    """Nothing withdrawn; one question, to the address of record, and no refusal confirmation."""
    assert _states(contact_id) == {ConsentStatus.GRANTED}
    [asked] = system_mails()
    assert (asked.kind, asked.to_address) == ("refusal_check", VICTIM)


def test_a_spoofed_from_to_the_plain_mailbox_only_asks_the_victim(
    app: Flask, client: FlaskClient, receiver: Controller, smtp: SmtpTestServer, victim: int
) -> None:
    _send(receiver, refusal_mail(f"Victim <{VICTIM}>"), envelope="attacker@evil.example")
    _asked_only(victim)
    [question] = deliver(app, smtp)
    assert question["To"] == VICTIM and "Auto-Submitted" in question
    text = body_text(question)
    assert text.index("Bạn có yêu cầu ngừng nhận") < text.index("Did you ask to stop")
    assert "[QC]" not in question["Subject"]
    link = re.search(r"https://notifier\.test(/r/\S+)", text)
    assert link
    page = client.get(link[1])  # a link scanner or preview: must change nothing
    assert page.status_code == 200 and _states(victim) == {ConsentStatus.GRANTED}
    assert "Did you ask" not in page.text and "Bạn có yêu cầu" in page.text
    done = client.post(link[1], data={"csrf_token": csrf_of(page.text), "confirm": "yes"})
    assert done.status_code == 200
    assert _states(victim) == {ConsentStatus.WITHDRAWN}
    again = client.post(link[1], data={"csrf_token": csrf_of(page.text), "confirm": "yes"})
    assert again.status_code == 200
    assert [m.kind for m in system_mails()] == ["refusal_check", "refusal"]  # one confirmation


def test_a_garbage_token_is_treated_like_the_plain_mailbox(
    receiver: Controller, victim: int
) -> None:
    garbage = MAILBOX.replace("@", "+AQEBAAAAAAAAAAAAAAAAAAAAAAAAAAAA@")
    _send(receiver, refusal_mail(VICTIM, to=garbage), to=garbage)
    _asked_only(victim)


def test_a_valid_token_withdraws_at_once(receiver: Controller, victim: int) -> None:
    address = _mailto(victim)
    _send(receiver, refusal_mail("someone.else@example.org", to=address), to=address)
    assert consent.states(victim)["promotions"] is ConsentStatus.WITHDRAWN
    assert [m.kind for m in system_mails()] == ["refusal"]


def test_a_dkim_signature_of_the_from_domain_withdraws_at_once(
    receiver: Controller, dns: LocalDns, victim: int
) -> None:
    signer = publish_key(dns, "example.com")
    _send(receiver, signer.sign(refusal_mail(VICTIM)), envelope="bounces@elsewhere.example")
    assert _states(victim) == {ConsentStatus.WITHDRAWN}
    [event] = [e for e in consent.history(victim) if e.action == "withdraw"][:1]
    assert event.source == "email"
    assert [m.kind for m in system_mails()] == ["refusal"]


def test_an_unaligned_dkim_signature_does_not_withdraw_at_once(
    receiver: Controller, dns: LocalDns, victim: int
) -> None:
    attacker = publish_key(dns, "evil.example")  # valid, but for the attacker's own domain
    _send(receiver, attacker.sign(refusal_mail(VICTIM)), envelope="x@evil.example")
    _asked_only(victim)


def test_a_signature_broken_in_transit_does_not_withdraw_at_once(
    receiver: Controller, dns: LocalDns, victim: int
) -> None:
    signed = publish_key(dns, "example.com").sign(refusal_mail(VICTIM))
    _send(receiver, signed.replace(b"Please stop.", b"Please stop!"))
    _asked_only(victim)


def test_a_second_from_header_voids_the_signature_check(
    receiver: Controller, dns: LocalDns, victim: int
) -> None:
    signed = publish_key(dns, "evil.example").sign(refusal_mail("a@evil.example"))
    _send(receiver, f"From: {VICTIM}\r\n".encode() + signed)
    assert _states(victim) == {ConsentStatus.GRANTED} and system_mails() == []


def test_spf_aligned_with_the_from_domain_withdraws_at_once(
    receiver: Controller, dns: LocalDns, victim: int
) -> None:
    dns.txt["example.com"] = ["v=spf1 ip4:127.0.0.0/8 -all"]
    _send(receiver, refusal_mail(VICTIM), envelope="returns@example.com")
    assert _states(victim) == {ConsentStatus.WITHDRAWN}


def test_spf_pass_for_an_unaligned_envelope_does_not_withdraw_at_once(
    receiver: Controller, dns: LocalDns, victim: int
) -> None:
    dns.txt["evil.example"] = ["v=spf1 ip4:127.0.0.0/8 -all"]
    dns.txt["example.com"] = ["v=spf1 ip4:192.0.2.0/24 -all"]  # the victim's real servers
    _send(receiver, refusal_mail(VICTIM), envelope="x@evil.example")
    _send(receiver, refusal_mail(VICTIM), envelope=VICTIM)  # SPF fails from here
    _asked_only(victim)  # and a flood of forgeries asks at most once a day


def test_a_tampered_or_expired_link_changes_nothing(
    app: Flask, client: FlaskClient, receiver: Controller, victim: int
) -> None:
    _send(receiver, refusal_mail(VICTIM))
    [asked] = system_mails()
    path = str(asked.data["link"]).removeprefix("https://notifier.test")
    tampered = client.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert tampered.status_code == 404
    assert client.post(tampered.request.path, data={"confirm": "yes"}).status_code in (400, 404)
    with time_machine.travel(utcnow() + timedelta(days=8)):
        late = client.get(path)
        form = {"csrf_token": csrf_of(client.get("/subscribe").text), "confirm": "yes"}
        late_post = client.post(path, data=form)
    assert late.status_code == 410 and "Liên kết đã hết hạn" in late.text
    assert late_post.status_code == 410
    assert _states(victim) == {ConsentStatus.GRANTED}


def test_the_webhook_applies_the_same_rules(
    app: Flask, client: FlaskClient, dns: LocalDns, victim: int
) -> None:
    configure(app, INBOUND_WEBHOOK_SECRET=SECRET)
    auth = {"Authorization": f"Bearer {SECRET}", "Content-Type": "message/rfc822"}
    forged = client.post("/inbound/email", data=refusal_mail(VICTIM), headers=auth)
    assert forged.get_json()["refused"] == [] and forged.get_json()["pending"] == [victim]
    _asked_only(victim)
    spf_elsewhere = {"rcpt": MAILBOX, "client_ip": "127.0.0.1", "mail_from": "x@evil.example"}
    dns.txt["evil.example"] = ["v=spf1 ip4:127.0.0.0/8 -all"]
    unaligned = client.post(
        "/inbound/email", query_string=spf_elsewhere, data=refusal_mail(VICTIM), headers=auth
    )
    assert unaligned.get_json()["refused"] == [] and _states(victim) == {ConsentStatus.GRANTED}
    signed = publish_key(dns, "example.com").sign(refusal_mail(VICTIM))
    genuine = client.post("/inbound/email", data=signed, headers=auth)
    assert genuine.get_json()["refused"] == [victim]
    assert _states(victim) == {ConsentStatus.WITHDRAWN}
