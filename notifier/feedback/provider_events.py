"""Provider event webhooks (Amazon SES via SNS, SendGrid, Mailgun): verify, map, apply."""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from notifier.domain.bounces.providers import (
    BadEvent,
    ProviderEvent,
    mailgun_event,
    sendgrid_events,
    ses_events,
)
from notifier.domain.bounces.signatures import (
    BadSignature,
    check_age,
    check_sns_certificate_url,
    verify_mailgun,
    verify_sendgrid,
    verify_sns,
)
from notifier.domain.errors import DomainError, NotFound
from notifier.feedback import bounce_handling as bounces
from notifier.infra.context import settings
from notifier.infra.extensions import db
from notifier.infra.queues import redis_connection
from notifier.operations import audit

log = logging.getLogger(__name__)
CERTIFICATE_MAX_BYTES = 65_536
_fetched: dict[str, bytes] = {}


class Forged(DomainError):
    """The signature does not verify: nothing is applied."""


class Malformed(DomainError):
    """The body does not have the shape the provider documents."""


def ses(body: bytes, now: datetime) -> dict[str, int]:
    """An SNS message: a SubscriptionConfirmation is recorded, a Notification applied."""
    if not settings().SES_WEBHOOK:
        raise NotFound("the SES webhook is not enabled")
    message = _json_object(body)
    # Any AWS account can make a topic that SNS signs: only the operator's own topics count.
    topics = settings().SES_TOPIC_ARNS
    if not topics:
        raise Forged("no SNS topic is accepted until SES_TOPIC_ARNS names yours")
    if message.get("TopicArn") not in topics:
        raise Forged("SNS topic not accepted (SES_TOPIC_ARNS)")
    try:
        url = check_sns_certificate_url(message.get("SigningCertURL"))
        verify_sns(message, sns_certificate(url), now)
        check_age(_sns_time(message.get("Timestamp")), now, _max_age())
    except BadSignature as exc:
        raise Forged(str(exc)) from None
    kind = str(message["Type"])
    if kind != "Notification":
        # Confirming means fetching a URL from the body: a person does it, from the audit log.
        topic = str(message["TopicArn"])
        details = {"subscribe_url": message.get("SubscribeURL"), "topic": topic}
        audit.record("system", f"provider.ses.{kind}", "sns_topic", topic[-64:], details)
        db.session.flush()
        log.warning("SNS %s for %s: open its SubscribeURL to confirm", kind, topic)
        return {kind: 1}
    try:
        notification = json.loads(str(message["Message"]))
        if not isinstance(notification, dict):
            raise BadEvent("SNS Message is not a JSON object")
        events = ses_events(notification, str(message["MessageId"]))
    except (ValueError, BadEvent) as exc:
        raise Malformed(f"SES notification: {exc}") from None
    return _apply("ses", events)


def sendgrid(body: bytes, signature: str, timestamp: str, now: datetime) -> dict[str, int]:
    key = settings().SENDGRID_WEBHOOK_PUBLIC_KEY
    if not key:
        raise NotFound("the SendGrid webhook is not configured")
    try:
        verify_sendgrid(key, signature, timestamp, body)
        check_age(timestamp, now, _max_age())
    except BadSignature as exc:
        raise Forged(str(exc)) from None
    try:
        events = sendgrid_events(json.loads(body))
    except (ValueError, BadEvent) as exc:
        raise Malformed(f"SendGrid events: {exc}") from None
    return _apply("sendgrid", events)


def mailgun(body: bytes, now: datetime) -> dict[str, int]:
    key = settings().MAILGUN_SIGNING_KEY
    if not key:
        raise NotFound("the Mailgun webhook is not configured")
    document = _json_object(body)
    signed = document.get("signature")
    if not isinstance(signed, dict):
        raise Forged("signature missing")
    parts = [str(signed.get(name) or "") for name in ("timestamp", "token", "signature")]
    try:
        verify_mailgun(key, *parts)
        check_age(parts[0], now, _max_age())
    except BadSignature as exc:
        raise Forged(str(exc)) from None
    data = document.get("event-data")
    try:
        if not isinstance(data, dict):
            raise BadEvent("event-data is not an object")
        event = mailgun_event(data)
    except BadEvent as exc:
        raise Malformed(f"Mailgun event: {exc}") from None
    # Mailgun signs only the timestamp and token, not the event: a captured signature block
    # would carry any forged event, so each token is good for one request.
    with _first_use("mailgun", parts[1]):
        return _apply("mailgun", [event] if event else [])


def sns_certificate(url: str) -> bytes:
    """SNS_CERTIFICATES pins certificates by URL (and lets tests run offline); else fetched once."""
    pinned = settings().SNS_CERTIFICATES
    if url in pinned:
        return Path(str(pinned[url])).read_bytes()
    if url not in _fetched:
        # check_sns_certificate_url allowed only https on an SNS host, so this is no SSRF.
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            _fetched[url] = response.read(CERTIFICATE_MAX_BYTES)
    return _fetched[url]


def _apply(channel: str, events: list[ProviderEvent]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for event in events:
        outcome = bounces.receive_provider_event(event, channel)
        counts[outcome.applied or "ignored"] += 1
    return dict(counts)


@contextmanager
def _first_use(channel: str, token: str) -> Iterator[None]:
    """Refuse a token seen before within the accepted age (either side of now, so twice it);
    a request that fails forgets its token, so the provider's retry is still accepted."""
    key = f"notifier:webhook-token:{channel}:{hashlib.sha256(token.encode()).hexdigest()}"
    connection = redis_connection()
    if not connection.set(key, 1, nx=True, ex=int(2 * _max_age()) + 60):
        raise Forged("token already used (a replayed request)")
    try:
        yield
    except BaseException:
        connection.delete(key)
        raise


def _sns_time(stamp: object) -> float:
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        raise BadSignature("Timestamp is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise BadSignature("Timestamp has no time zone")
    return when.timestamp()


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise Malformed("body is not JSON") from None
    if not isinstance(document, dict):
        raise Malformed("body is not a JSON object")
    return document


def _max_age() -> float:
    return float(settings().PROVIDER_WEBHOOK_MAX_AGE)
