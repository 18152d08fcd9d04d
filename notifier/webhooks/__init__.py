"""Outgoing webhooks: an outbox written in the change's own transaction (`capture`), and the
signed, retried delivery of each event to each endpoint subscribed to it (`sending`).

Any use case reports a change with one call, in its unit of work:

    webhooks.capture("subscription.reminder_sent", {"subscription_id": 7, "contact_id": 42})

The event types and the keys their data may hold are in notifier/domain/webhooks.py; the
endpoints are managed by notifier/operations/webhook_endpoints.py (admin pages and API)."""

from __future__ import annotations

from notifier.webhooks.outbox import capture, subscribers

__all__ = ["capture", "subscribers"]
