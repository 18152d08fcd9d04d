"""What the admin notices page shows: the types, the recent notices and who they went to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from notifier.infra.extensions import db
from notifier.models import Contact, Notice, NoticeType
from notifier.operations.access import Access


def notice_types() -> Sequence[NoticeType]:
    return db.session.scalars(select(NoticeType).order_by(NoticeType.key)).all()


def recent_notices(limit: int) -> Sequence[Notice]:
    return db.session.scalars(select(Notice).order_by(Notice.id.desc()).limit(limit)).all()


def contact_labels(access: Access, contact_ids: set[int]) -> dict[int, str]:
    """Name and address as far as the role may see them; showing them is logged like a search."""
    shown = [field for field in ("name", "email") if access.sees(field)]
    if not shown or not contact_ids:
        return {}
    rows = db.session.execute(
        select(Contact.id, Contact.name, Contact.email).where(Contact.id.in_(contact_ids))
    )
    labels = {}
    for contact_id, name, email in rows:
        parts = [name if "name" in shown else None, email if "email" in shown else None]
        label = " · ".join(part for part in parts if part)
        if label:
            labels[contact_id] = label
    access.audit("notices.list", "contact", "", ids=sorted(labels))
    return labels
