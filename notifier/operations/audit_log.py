"""Read the audit log for its page: filter by who, what, which object and when."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from notifier.infra.extensions import db
from notifier.models import AuditEntry
from notifier.operations.access import Access

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditEntry]
    total: int
    page: int
    pages: int
    actions: list[str]


def browse(access: Access, wanted: AuditFilter) -> AuditPage:
    access.require("audit.view")
    statement = select(AuditEntry)
    if wanted.actor:
        statement = statement.where(AuditEntry.actor == wanted.actor)
    if wanted.action:
        statement = statement.where(AuditEntry.action.startswith(wanted.action, autoescape=True))
    if wanted.object_type:
        statement = statement.where(AuditEntry.object_type == wanted.object_type)
    if wanted.object_id:
        statement = statement.where(AuditEntry.object_id == wanted.object_id)
    if wanted.since:
        statement = statement.where(AuditEntry.at >= wanted.since)
    if wanted.until:
        statement = statement.where(AuditEntry.at < wanted.until)
    total = int(db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, wanted.page), pages)
    rows = db.session.scalars(
        statement.order_by(AuditEntry.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    actions = db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    return AuditPage(list(rows), total, page, pages, list(actions))
