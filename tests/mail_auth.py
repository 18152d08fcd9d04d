"""Refusal mail as a person's mail server sends it, DKIM-signed with a key a LocalDns publishes."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from notifier.mail.dkim import DkimSigner
from tests.dns_server import LocalDns

MAILBOX = "unsubscribe@dcnet.example.vn"  # identity.unsubscribe_mailbox of the dcnet profile


@cache
def _pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def publish_key(dns: LocalDns, domain: str, selector: str = "mail") -> DkimSigner:
    """A signer for `domain` whose public key the local DNS serves, as the domain's owner would."""
    signer = DkimSigner(_pem(), domain=domain, selector=selector)
    dns.txt[f"{selector}._domainkey.{domain}"] = [signer.dns_txt_record()]
    return signer


def refusal_mail(sender: str, to: str = MAILBOX, subject: str = "Hủy đăng ký") -> bytes:
    message = EmailMessage(policy=SMTP)  # CRLF, as on the wire
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = make_msgid(domain="mail.example")
    message.set_content("Xin đừng gửi quảng cáo cho tôi nữa. Please stop.")
    return message.as_bytes()
