"""Webhook endpoints, managed by the admin role in the admin pages and by keys with the
`webhooks` scope over the API: create (the secret is shown once), change, rotate the secret,
read the delivery log, redeliver. Every change is audited."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from notifier.domain.errors import NotFound, ValidationFailed
from notifier.domain.webhooks import check_subscriptions
from notifier.infra.extensions import db
from notifier.infra.queues import enqueue_after_commit
from notifier.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookStatus, utcnow
from notifier.operations import audit
from notifier.webhooks.outbox import DELIVER_JOB, QUEUE
from notifier.webhooks.sending import checked_addresses

LOG_SIZE = 100
MAX_DESCRIPTION = 200


@dataclass(frozen=True)
class EndpointView:
    id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_note: str
    failing_since: datetime | None
    created_at: datetime
    secret_rotated_at: datetime | None


@dataclass(frozen=True)
class DeliveryView:
    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_response: str
    last_error: str
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def endpoints() -> list[EndpointView]:
    rows = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
    return [_view(row) for row in rows]


def endpoint(endpoint_id: int) -> EndpointView:
    return _view(_endpoint(endpoint_id))


def create(
    url: str, events: list[str], description: str, actor: str, ip: str | None = None
) -> tuple[EndpointView, str]:
    """The new endpoint and its secret, which is never shown again."""
    chosen = check_subscriptions(events)
    url = url.strip()
    checked_addresses(url)
    row = WebhookEndpoint(
        url=url,
        description=_description(description),
        events=chosen,
        secret=new_secret(),
        enabled=True,
        disabled_note="",
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "webhook.create", "webhook_endpoint", row.id, {"url": url}, ip)
    return _view(row), row.secret


def update(
    endpoint_id: int,
    actor: str,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    ip: str | None = None,
) -> EndpointView:
    row = _endpoint(endpoint_id)
    changed: dict[str, object] = {}
    if url is not None and url.strip() != row.url:
        checked_addresses(url.strip())
        row.url = changed["url"] = url.strip()
    if events is not None:
        row.events = changed["events"] = check_subscriptions(events)
    if description is not None:
        row.description = _description(description)
    if enabled is not None and enabled != row.enabled:
        row.enabled = changed["enabled"] = enabled
        if enabled:  # staff looked at it: the failing streak starts again
            row.disabled_note, row.failing_since = "", None
    db.session.flush()
    audit.record(actor, "webhook.update", "webhook_endpoint", row.id, changed, ip)
    return _view(row)


def rotate_secret(endpoint_id: int, actor: str, ip: str | None = None) -> str:
    """A new secret at once: deliveries from now on are signed with it."""
    row = _endpoint(endpoint_id)
    row.secret, row.secret_rotated_at = new_secret(), utcnow()
    db.session.flush()
    audit.record(actor, "webhook.rotate_secret", "webhook_endpoint", row.id, {}, ip)
    return row.secret


def deliveries(endpoint_id: int, limit: int = LOG_SIZE) -> list[DeliveryView]:
    _endpoint(endpoint_id)
    rows = db.session.execute(
        select(WebhookDelivery, WebhookEvent.type)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    ).all()
    return [_delivery_view(row, event_type) for row, event_type in rows]


def redeliver(delivery_id: int, actor: str, ip: str | None = None) -> DeliveryView:
    """Send the same event (same id) again now, whatever became of it: a receiver that lost it
    gets it, one that has it recognises the id. The attempts start counting again."""
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound(f"webhook delivery {delivery_id}")
    if not _endpoint(row.endpoint_id).enabled:
        raise ValidationFailed({"endpoint": "is disabled: enable it first"})
    row.status, row.attempts, row.next_attempt_at = WebhookStatus.PENDING, 0, utcnow()
    row.claimed_until = None
    db.session.flush()
    audit.record(actor, "webhook.redeliver", "webhook_delivery", row.id, {}, ip)
    enqueue_after_commit(db.session(), QUEUE, DELIVER_JOB, row.id)
    event = db.session.get(WebhookEvent, row.event_id)
    return _delivery_view(row, event.type if event is not None else "")


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    row = db.session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id}")
    return row


def _description(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_DESCRIPTION or any(ord(c) < 32 for c in text):
        raise ValidationFailed({"description": f"at most {MAX_DESCRIPTION} characters of text"})
    return text


def _view(row: WebhookEndpoint) -> EndpointView:
    return EndpointView(
        id=row.id,
        url=row.url,
        description=row.description,
        events=list(row.events or ()),
        enabled=row.enabled,
        disabled_note=row.disabled_note,
        failing_since=row.failing_since,
        created_at=row.created_at,
        secret_rotated_at=row.secret_rotated_at,
    )


def _delivery_view(row: WebhookDelivery, event_type: str) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=event_type,
        status=str(row.status),
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_response=row.last_response,
        last_error=row.last_error,
        last_attempt_at=row.last_attempt_at,
        next_attempt_at=row.next_attempt_at if row.status == WebhookStatus.PENDING else None,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )
