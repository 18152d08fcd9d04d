"""Decree 91/2020 Art 20(2): a refusal mailed to the unsubscribe mailbox of the running product."""

from __future__ import annotations

import http.cookiejar
import re
import smtplib
import urllib.parse
import urllib.request
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from tests.acceptance.conftest import Product
from tests.dns_server import LocalDns
from tests.mail_auth import MAILBOX, publish_key, refusal_mail
from tests.smtp_server import SmtpTestServer

ADVERTISING = {"promotions", "events"}


def _mail_to(sink: SmtpTestServer, address: str) -> list[EmailMessage]:
    found = []
    for received in sink.messages:
        if address in received.rcpt_tos:
            message = message_from_bytes(received.data, policy=default)
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def _subscribed(product: Product, preferences_url: str) -> set[str]:
    """The purposes the person's own preferences page shows switched on."""
    page = product.get(preferences_url)
    boxes = re.findall(r'<input type="checkbox" name="purpose" value="(\w+)"[^>]*>', page)
    assert boxes, page
    tags = re.findall(r'<input type="checkbox" name="purpose"[^>]*>', page)
    return {key for key, tag in zip(boxes, tags, strict=True) if " checked" in tag}


def _preferences_url(message: EmailMessage) -> str:
    found = re.search(r"(http://\S+/p/\S+)", _text(message))
    assert found, _text(message)
    return found[1]


def _send(product: Product, envelope_from: str, raw: bytes) -> None:
    """A 4xx or 5xx reply raises: the product must accept the refusal."""
    with smtplib.SMTP("127.0.0.1", product.inbound_port, timeout=30) as client:
        client.sendmail(envelope_from, [MAILBOX], raw)


def test_a_refusal_from_an_authenticated_sender_withdraws_at_once_and_confirms_once(
    product: Product, dns: LocalDns, sink: SmtpTestServer
) -> None:
    signer = publish_key(dns, "example.com")
    person = "lan.nguyen@example.com"  # demo contact with every advertising purpose granted
    _send(product, person, signer.sign(refusal_mail(f"Nguyễn Thị Lan <{person}>")))
    product.deliver()
    product.deliver()  # a second worker run sends nothing more
    [confirmation] = _mail_to(sink, person)
    assert confirmation["Subject"] == "Xác nhận từ chối nhận email"
    assert "Email tới hộp thư hủy đăng ký" not in _text(confirmation)  # no advertising inside
    assert "Chúng tôi đã nhận yêu cầu từ chối của bạn" in _text(confirmation)
    assert not _subscribed(product, _preferences_url(confirmation)) & ADVERTISING
    assert [m.rcpt_tos for m in sink.messages] == [[person]]


def test_a_forged_refusal_applies_only_after_the_address_confirms_over_http(
    product: Product, sink: SmtpTestServer
) -> None:
    person = "bao.dang@example.net"  # demo contact; no DKIM or SPF record vouches for the sender
    _send(product, "attacker@evil.example", refusal_mail(f"Đặng Quốc Bảo <{person}>"))
    product.deliver()
    [question] = _mail_to(sink, person)
    assert _subscribed(product, _preferences_url(question)) >= ADVERTISING  # nothing changed
    link = re.search(r"(http://\S+/r/\S+)", _text(question))
    assert link
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(link[1], timeout=15).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page
    form = urllib.parse.urlencode({"csrf_token": token[1], "confirm": "yes"}).encode()
    assert opener.open(link[1], form, timeout=15).status == 200
    product.deliver()
    confirmation = _mail_to(sink, person)[1:]
    assert [m["Subject"] for m in confirmation] == ["Xác nhận từ chối nhận email"]
    assert not _subscribed(product, _preferences_url(confirmation[0])) & ADVERTISING
