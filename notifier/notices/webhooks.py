"""A notice's status changes through `change_status`, which reports each change to the
webhook endpoints subscribed to `notice.status_changed`, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifier import webhooks
from notifier.infra.extensions import db
from notifier.models import Contact, Notice

EVENT = "notice.status_changed"
# The endpoint ids subscribed to EVENT as a batch read them once, or None: read them now.
Subscribers = tuple[int, ...] | None


def change_status(notice: Notice, status: str, reason: str | None = None) -> None:
    """The one way to change a notice's status: the webhook event is captured in the same
    transaction, and its deliveries enqueued once that transaction commits."""
    previous = notice.status
    notice.status, notice.reason = status, reason
    if previous != status:
        status_changed(notice)


def status_changed(notice: Notice) -> None:
    contact = db.session.get(Contact, notice.contact_id)
    report(notice, contact.external_ref if contact is not None else None)


def report(
    notice: Notice | StatusReport, external_ref: str | None, endpoint_ids: Subscribers = None
) -> None:
    """The event of the notice's new status (a batch of notices passes the subscribers it read
    once, and each notice's fields as it wrote them)."""
    # The SMTP reply text is left out: relays quote the recipient's address in it.
    webhooks.capture(
        EVENT,
        {
            "notice_id": notice.id,
            "type": notice.type,
            "status": str(notice.status),
            "reason": notice.reason,
            "contact_id": notice.contact_id,
            "external_ref": external_ref,
            "sent_at": notice.sent_at.isoformat() if notice.sent_at else None,
            "message_id": notice.message_id,
            "smtp_code": notice.smtp_code,
        },
        endpoint_ids,
    )


@dataclass(frozen=True)
class StatusReport:
    """A notice's fields as a batch wrote them, without loading the row again."""

    id: int
    type: str
    status: str
    reason: str | None
    contact_id: int
    sent_at: datetime | None
    message_id: str | None
    smtp_code: int | None
