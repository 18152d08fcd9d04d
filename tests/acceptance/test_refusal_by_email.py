"""Decree 91/2020 Art 20(2): a refusal mailed to the unsubscribe mailbox of the running product."""

from __future__ import annotations

import re
import smtplib
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
