"""Outgoing webhooks: each notice status change is POSTed, HMAC-signed, and retried with backoff.

A change is written as a webhook_events row in the same transaction that changes the notice
(`change_status`, called by the code that changes it), then delivered by a job enqueued after
that transaction commits; the scheduler re-enqueues the ones due again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from flask import has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.infra import context
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, enqueue_after_commit
from notifier.models import Contact, Notice, WebhookEvent, WebhookStatus, utcnow

log = logging.getLogger(__name__)
DELIVER_JOB = "workers.jobs.deliver_webhook"
EVENT = "notice.status_changed"
SIGNATURE_HEADER, TIMESTAMP_HEADER = "Notifier-Signature", "Notifier-Timestamp"
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=2)
TIMEOUT_SECONDS = 10
TOLERANCE_SECONDS = 300


def settings() -> tuple[str, str] | None:
    """(url, secret) when both are configured; webhooks are optional."""
    if not has_app_context():
        return None
    url, secret = context.settings().API_WEBHOOK_URL, context.settings().API_WEBHOOK_SECRET
    if not (url.startswith(("http://", "https://")) and secret):
        return None
    return url, secret


def install() -> None:
    """Nothing to install any more: status changes write their events by calling
    `status_changed`. Kept while the API package still calls it at registration."""


def change_status(notice: Notice, status: str, reason: str | None = None) -> None:
    """The one way to change a notice's status: the billing system's webhook event is written
    in the same transaction, and its delivery job enqueued once that transaction commits."""
    previous = notice.status
    notice.status, notice.reason = status, reason
    if previous != status:
        status_changed(notice)


def status_changed(notice: Notice) -> None:
    if settings() is None:
        return
    hook = WebhookEvent(
        notice_id=notice.id,
        event=EVENT,
        attempts=0,
        last_error="",
        status=WebhookStatus.PENDING,
        payload=_payload(db.session(), notice),
    )
    db.session.add(hook)
    db.session.flush()
    enqueue_after_commit(db.session(), NOTICES, DELIVER_JOB, hook.id)


def _payload(session: Session, notice: Notice) -> dict[str, Any]:
    contact = session.get(Contact, notice.contact_id)
    return {
        "event": EVENT,
        "occurred_at": utcnow().isoformat(),
        "notice": {
            "id": notice.id,
            "type": notice.type,
            "status": str(notice.status),
            "reason": notice.reason,
            "external_ref": contact.external_ref if contact is not None else None,
            "sent_at": notice.sent_at.isoformat() if notice.sent_at else None,
            "message_id": notice.message_id,
            "smtp_code": notice.smtp_code,
            "smtp_message": notice.smtp_message,
        },
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float) -> bool:
    """What a receiver runs: a fresh timestamp and a matching HMAC (constant-time compare)."""
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        return False
    return age <= TOLERANCE_SECONDS and hmac.compare_digest(
        sign(secret, timestamp, body), signature
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would turn into a GET without the body: report it as a failure instead.
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def deliver(event_id: int) -> str:
    """One attempt; on failure the next one is due after an exponential backoff."""
    hook = db.session.get(WebhookEvent, event_id)
    configured = settings()
    if hook is None or hook.status != WebhookStatus.PENDING:
        return hook.status if hook is not None else "missing"
    if configured is None:
        return hook.status
    url, secret = configured
    body = json.dumps({**hook.payload, "id": hook.id}, separators=(",", ":")).encode()
    timestamp = str(int(utcnow().timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "notifier-webhooks/1",
        "Notifier-Event-Id": str(hook.id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    # settings() admits http(s) URLs only.
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    error = _post(request)
    now = utcnow()
    hook.attempts += 1
    if error is None:
        hook.status, hook.delivered_at, hook.last_error = WebhookStatus.DELIVERED, now, ""
    elif hook.attempts >= MAX_ATTEMPTS:
        hook.status, hook.last_error = WebhookStatus.FAILED, error[:500]
    else:
        hook.next_attempt_at = now + min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (hook.attempts - 1))
        hook.last_error = error[:500]
    return hook.status


def _post(request: urllib.request.Request) -> str | None:
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return None if 200 <= answer.status < 300 else f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def retry_due(now: datetime) -> int:
    """Enqueue pending events whose backoff is over (and any a lost Redis job left behind)."""
    due = db.session.scalars(
        select(WebhookEvent.id).where(
            WebhookEvent.status == WebhookStatus.PENDING,
            (WebhookEvent.next_attempt_at.is_(None)) | (WebhookEvent.next_attempt_at <= now),
            WebhookEvent.created_at <= now - timedelta(seconds=TIMEOUT_SECONDS * 2),
        )
    ).all()
    for event_id in due:
        enqueue_after_commit(db.session(), NOTICES, DELIVER_JOB, event_id)
    return len(due)
