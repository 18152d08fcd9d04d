"""The admin pages: the blueprint lives in blueprint.py, each page in a module of its own."""

from __future__ import annotations

from notifier.web.admin import (  # noqa: F401 - importing a page registers its routes
    audit_log,
    campaigns,
    contacts,
    dashboard,
    deliverability,
    emails,
    engagement,
    imports,
    notices,
    outbox,
    privacy,
    queues,
    reminders,
    rsvps,
    segments,
    session,
    staff,
    webhooks,
)
from notifier.web.admin.blueprint import bp

__all__ = ["bp"]
