"""Saved dynamic segments: save, list, read, count; and the clause planning narrows by.

A segment only narrows: planning and the audience count apply it on top of the purpose's
eligible contacts (audience_sql), and the claim-time decision never reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, false, func, select

from notifier.campaigns.segment_sql import segment_clause
from notifier.domain import segments
from notifier.domain.errors import NotFound, ValidationFailed
from notifier.domain.segments import Group, Horizon
from notifier.infra.clock import utcnow
from notifier.infra.context import profile, settings
from notifier.infra.extensions import db
from notifier.models import Campaign, Contact, Segment

MAX_NAME = 200
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class SegmentInput:
    name: str
    definition: Any  # JSON-shaped, unchecked: parse() decides
    description: str = ""


def parse(definition: Any) -> Group:
    """The tree, checked against this profile's purposes, the campaigns that exist and the
    tracking retention (what staff save or count now; a stored tree is read by saved_clause)."""
    group = segments.parse(
        definition,
        {p.key for p in profile().purposes},
        retention_days=settings().TRACKING_RETENTION_DAYS,
    )
    wanted = group.campaign_ids()
    if wanted:
        found = set(db.session.scalars(select(Campaign.id).where(Campaign.id.in_(wanted))))
        missing = sorted(wanted - found)
        if missing:
            raise segments.SegmentInvalid(
                {"definition": f"no campaign {', '.join(map(str, missing[:5]))}"}
            )
    return group


def save_segment(
    data: SegmentInput, staff_id: int | None, segment_id: int | None = None
) -> Segment:
    errors: dict[str, str] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = "is required"
    elif len(name) > MAX_NAME:
        errors["name"] = f"at most {MAX_NAME} characters"
    if len(data.description) > MAX_DESCRIPTION:
        errors["description"] = f"at most {MAX_DESCRIPTION} characters"
    try:
        group = parse(data.definition)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if not errors:
        clash = db.session.scalar(select(Segment.id).where(Segment.name == name))
        if clash is not None and clash != segment_id:
            errors["name"] = "another segment has this name"
    if errors:
        raise ValidationFailed(errors)
    segment = get_segment(segment_id) if segment_id is not None else Segment(created_by=staff_id)
    segment.name, segment.description = name, data.description
    segment.definition = segments.to_json(group)
    if segment_id is None:
        db.session.add(segment)
    db.session.flush()
    return segment


def get_segment(segment_id: int) -> Segment:
    segment = db.session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id}")
    return segment


def list_segments() -> list[Segment]:
    return list(db.session.scalars(select(Segment).order_by(Segment.name)))


def segment_choices() -> list[tuple[int, str]]:
    return [(s.id, s.name) for s in list_segments()]


def horizon() -> Horizon:
    """Now, the oldest moment whose tracking events are all still kept, and today in the
    profile's time zone (the day subscriptions are read on, as the renewal notices read it)."""
    now = utcnow()
    today = now.astimezone(ZoneInfo(profile().default_time_zone)).date()
    return Horizon.at(now, settings().TRACKING_RETENTION_DAYS, today)


def clause(group: Group, at: Horizon | None = None) -> ColumnElement[bool]:
    return segment_clause(group, db.session.get_bind().dialect.name, at or horizon())


def saved_clause(segment_id: Any) -> ColumnElement[bool]:
    """The saved segment's condition, read now (segments are dynamic). A segment that is gone
    or no longer valid matches nobody: a segment narrows, it never widens an audience."""
    try:
        segment = db.session.get(Segment, int(segment_id))
    except (TypeError, ValueError):
        return false()
    if segment is None:
        return false()
    try:
        return clause(segments.parse(segment.definition, {p.key for p in profile().purposes}))
    except ValidationFailed:
        return false()


def count_all(group: Group) -> int:
    """How many contacts match, whatever their consent (the audience page adds the purpose)."""
    query = select(func.count()).select_from(Contact).where(clause(group))
    return int(db.session.scalar(query) or 0)
