"""Notices and notice types as plain data for the JSON API, and what each type's `data` needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from notifier.contacts.views import iso
from notifier.domain.reminders import Schedule
from notifier.infra.extensions import db
from notifier.models import Notice, NoticeStatus, NoticeType, Template
from notifier.notices.types import DataFields, variants_fields

NOTICE_STATUSES = tuple(s.value for s in NoticeStatus)


def accepted_view(notice: Notice) -> dict[str, Any]:
    return {"id": notice.id, "type": notice.type, "created_at": iso(notice.created_at)}


def notice_view(notice: Notice, external_ref: str | None) -> dict[str, Any]:
    return {
        "id": notice.id,
        "type": notice.type,
        "status": str(notice.status),
        "reason": notice.reason,
        "external_ref": external_ref,
        "created_at": iso(notice.created_at),
        "send_at": iso(notice.send_at),
        "sent_at": iso(notice.sent_at),
        "message_id": notice.message_id,
        "smtp_code": notice.smtp_code,
        "smtp_message": notice.smtp_message or None,
        "attempts": notice.attempts,
    }


def notice_type_view(notice_type: NoticeType) -> dict[str, Any]:
    return {"key": notice_type.key, "name": notice_type.name, "purpose": notice_type.purpose_key}


def schedule_view(type_key: str, schedule: Schedule) -> dict[str, Any]:
    return {"type": type_key, "steps": list(schedule.steps), "local_hour": schedule.local_hour,
            "paused": schedule.paused}  # fmt: skip


def active_type_keys() -> list[str]:
    return list(db.session.scalars(select(NoticeType.key).where(NoticeType.active)))


def active_data_fields() -> dict[str, DataFields]:
    """What `data` each active notice type needs, read from every variant of its template."""
    rows = db.session.execute(
        select(NoticeType.key, Template)
        .join(Template, Template.id == NoticeType.template_id)
        .where(NoticeType.active)
        .order_by(NoticeType.key)
    ).all()
    return {key: variants_fields(template.sources()) for key, template in rows}
