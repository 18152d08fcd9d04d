"""The audit log of personal-data access (Decree 13/2023 processing log)."""

from __future__ import annotations

from typing import Any

from notifier.infra.extensions import db
from notifier.models import AuditEntry


def record(
    actor: str,
    action: str,
    object_type: str = "",
    object_id: object = "",
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Added to the caller's transaction, so the access and its record commit together."""
    db.session.add(
        AuditEntry(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            details=details or {},
            ip=ip,
        )
    )
