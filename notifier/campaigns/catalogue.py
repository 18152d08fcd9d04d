"""What the admin pages list about templates and campaigns: the queries behind their forms.

The web layer never imports the models: it asks here, and the names it needs to compare with
(a campaign's kind and status) are re-exported from here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select

from notifier.infra.extensions import db
from notifier.models import CampaignKind, CampaignStatus, StaffUser, Template, TemplateVersion

__all__ = [
    "CampaignKind",
    "CampaignStatus",
    "Template",
    "TemplateVersion",
    "kept_version",
    "template_names",
    "templates_by_name",
    "templates_for_purposes",
    "templates_recent_first",
    "versions_with_authors",
]


def templates_by_name() -> Sequence[Template]:
    return db.session.scalars(select(Template).order_by(Template.name)).all()


def templates_recent_first() -> Sequence[Template]:
    return db.session.scalars(select(Template).order_by(Template.updated_at.desc())).all()


def templates_for_purposes(purpose_keys: Iterable[str]) -> Sequence[Template]:
    keys = list(purpose_keys)
    return db.session.scalars(select(Template).where(Template.purpose_key.in_(keys))).all()


def template_names() -> dict[int, str]:
    return {t.id: t.name for t in db.session.scalars(select(Template))}


def kept_version(template_id: int, version: int) -> TemplateVersion | None:
    return db.session.scalar(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template_id, TemplateVersion.version == version
        )
    )


def versions_with_authors(template_id: int) -> list[tuple[TemplateVersion, str]]:
    """Each kept version, newest first, with the address of the staff member who saved it."""
    rows = db.session.execute(
        select(TemplateVersion, StaffUser.email)
        .outerjoin(StaffUser, StaffUser.id == TemplateVersion.saved_by)
        .where(TemplateVersion.template_id == template_id)
        .order_by(TemplateVersion.version.desc())
    ).all()
    return [(version, email or "") for version, email in rows]
