"""Capture: an event row and one delivery row per subscribed endpoint, in the caller's
transaction. If that transaction rolls back there is no event; once it commits the delivery jobs
are enqueued (and the scheduler finds any whose enqueueing was lost)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from notifier.domain.webhooks import check_event
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, enqueue_after_commit
from notifier.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookStatus, utcnow

DELIVER_JOB = "workers.jobs.deliver_webhook"
# Webhooks share the notices queue: both are what another system waits for, ahead of campaigns.
QUEUE = NOTICES


def subscribers(event_type: str) -> tuple[int, ...]:
    """The ids of the enabled endpoints subscribed to `event_type`."""
    return tuple(
        endpoint.id
        for endpoint in db.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
        )
        if event_type in (endpoint.events or ())
    )


def capture(
    event_type: str, data: Mapping[str, Any], endpoint_ids: tuple[int, ...] | None = None
) -> WebhookEvent | None:
    """Record `event_type` for every enabled endpoint subscribed to it; None when there is none
    (an endpoint created later does not receive the past). `endpoint_ids`: the subscribers as
    the caller read them this very batch (`subscribers`), so a batch of notices asks once."""
    check_event(event_type, data)
    if endpoint_ids is None:
        endpoint_ids = subscribers(event_type)
    if not endpoint_ids:
        return None
    now = utcnow()
    event = WebhookEvent(id=str(uuid.uuid4()), type=event_type, data=dict(data), created_at=now)
    db.session.add(event)
    # No relationship() ties the two models, so the flush would not order them: the event first.
    db.session.flush()
    deliveries = [
        WebhookDelivery(
            endpoint_id=endpoint_id,
            event_id=event.id,
            status=WebhookStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            last_response="",
            last_error="",
            created_at=now,
        )
        for endpoint_id in endpoint_ids
    ]
    db.session.add_all(deliveries)
    db.session.flush()
    for delivery in deliveries:
        enqueue_after_commit(db.session(), QUEUE, DELIVER_JOB, delivery.id)
    return event
