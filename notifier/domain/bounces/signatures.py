"""Signature checks of provider webhooks: Amazon SNS, SendGrid (ECDSA P-256), Mailgun (HMAC)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

SNS_HOST = re.compile(r"sns\.[a-z0-9-]{1,40}\.amazonaws\.com(\.cn)?")
SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip
SNS_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


class BadSignature(ValueError):
    """Not signed by who it claims, or not signed in a way we accept."""


def check_sns_certificate_url(url: object) -> str:
    """Only https on an SNS amazonaws.com host: anything else could serve an attacker's key."""
    if not isinstance(url, str) or len(url) > 500:
        raise BadSignature("SigningCertURL missing")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or parts.port or parts.username or not SNS_HOST.fullmatch(host):
        raise BadSignature("SigningCertURL is not https on an SNS amazonaws.com host")
    if not parts.path.endswith(".pem") or parts.query or parts.fragment:
        raise BadSignature("SigningCertURL is not a .pem file")
    return url


def sns_string_to_sign(message: Mapping[str, object]) -> bytes:
    kind = message.get("Type")
    if not isinstance(kind, str) or kind not in SNS_FIELDS:
        raise BadSignature(f"unknown SNS message type {str(kind)[:40]!r}")
    lines = []
    for name in SNS_FIELDS[kind]:
        value = message.get(name)
        if value is None and name == "Subject":
            continue  # optional, and then not signed
        if not isinstance(value, str):
            raise BadSignature(f"SNS field {name} missing")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def verify_sns(message: Mapping[str, object], certificate_pem: bytes, now: datetime) -> None:
    """SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA) over the canonical string."""
    version = message.get("SignatureVersion")
    if not isinstance(version, str) or version not in SNS_HASHES:
        raise BadSignature(f"unsupported SignatureVersion {str(version)[:10]!r}")
    signature = _b64(message.get("Signature"))
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise BadSignature("signing certificate is not a PEM certificate") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise BadSignature("signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadSignature("signing certificate does not hold an RSA key")
    data = sns_string_to_sign(message)
    try:
        key.verify(signature, data, padding.PKCS1v15(), SNS_HASHES[version]())
    except InvalidSignature:
        raise BadSignature("SNS signature does not match") from None


def verify_sendgrid(public_key_b64: str, signature: str, timestamp: str, body: bytes) -> None:
    """ECDSA P-256 with SHA-256 over timestamp + raw body; the key as SendGrid shows it."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(public_key_b64, validate=True))
    except (ValueError, binascii.Error):
        raise BadSignature("SendGrid verification key is not a base64 DER public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise BadSignature("SendGrid verification key is not an elliptic-curve key")
    try:
        key.verify(_b64(signature), timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, UnicodeEncodeError):
        raise BadSignature("SendGrid signature does not match") from None


def verify_mailgun(signing_key: str, timestamp: str, token: str, signature: str) -> None:
    expected = hmac.new(
        signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise BadSignature("Mailgun signature does not match")


def check_age(timestamp: object, now: datetime, max_age_seconds: float) -> None:
    """Refuse replays of an old signed body: the timestamp is inside what was signed."""
    try:
        when = float(str(timestamp))
    except ValueError:
        raise BadSignature("timestamp is not a number") from None
    if not math.isfinite(when) or abs(now.timestamp() - when) > max_age_seconds:
        raise BadSignature("timestamp too old or in the future")


def _b64(value: object) -> bytes:
    if not isinstance(value, str) or not value or len(value) > 2000:
        raise BadSignature("signature missing")
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise BadSignature("signature is not base64") from None
