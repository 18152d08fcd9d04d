"""The retention notice when a contract ends (docs/automations.md): once per (contact, end
date), made set-based by each scheduler round, sent as a system mail; the purge waits for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from notifier.delivery import system_mail
from notifier.domain import retention_notice as rules
from notifier.domain.profile import Retention, RetentionRule
from notifier.domain.tokens import make_token
from notifier.infra.bulk import update_by_id
from notifier.infra.context import profile, public_base_url, token_secret
from notifier.infra.extensions import db
from notifier.models import (
    Contact,
    RetentionNotice,
    RetentionNoticeStatus,
    Suppression,
    SystemMail,
    SystemMailKind,
    SystemMailStatus,
)

BATCH = 500  # contacts a round decides; the rest wait for the next round (seconds later)
UNSENT = (SystemMailStatus.QUEUED, SystemMailStatus.SENDING)


def enabled(retention: Retention) -> bool:
    return retention.rule is RetentionRule.CONTRACT_END and retention.notify


def create_due(now: datetime) -> int:
    """The scheduler's task: the contacts whose end day's moment has come get their notice row
    (the claim: an INSERT ... ON CONFLICT DO NOTHING RETURNING gives each row to one round) and,
    in the same transaction, their system mail. Returns how many mails it queued."""
    retention = profile().retention
    if not enabled(retention):
        return 0
    decided = (_decide(row, retention.grace_days, now) for row in _candidates(now))
    rows = [row for row in decided if row is not None]
    if not rows:
        return 0
    columns = ("contact_id", "contract_ends_on", "status", "erasure_on", "created_at")
    values = [{key: row[key] for key in columns} for row in rows]
    claimed = db.session.execute(
        _insert()
        .values(values)
        .on_conflict_do_nothing()
        .returning(RetentionNotice.id, RetentionNotice.contact_id, RetentionNotice.status)
    ).all()
    by_contact = {row["contact_id"]: row for row in rows}
    mailed = [
        {"id": notice_id, "system_mail_id": _queue(by_contact[contact_id])}
        for notice_id, contact_id, status in claimed
        if status == RetentionNoticeStatus.MAILED
    ]
    update_by_id(RetentionNotice, mailed)
    return len(mailed)


def _candidates(now: datetime) -> list[Any]:
    """One query, bounded: contacts not erased whose end date is near and not yet decided."""
    first, last = rules.end_range(now.date())
    suppressed = exists().where(
        Suppression.address_hash == Contact.address_hash, Suppression.scope == "all"
    )
    return list(
        db.session.execute(
            select(
                Contact.id,
                Contact.email,
                Contact.locale,
                Contact.time_zone,
                Contact.contract_ends_on,
                suppressed.label("suppressed"),
            )
            .where(
                Contact.erased_at.is_(None),
                Contact.contract_ends_on.between(first, last),
                ~_decided(),
            )
            .order_by(Contact.contract_ends_on, Contact.id)
            .limit(BATCH)
        ).all()
    )


def _decide(row: Any, grace_days: int, now: datetime) -> dict[str, Any] | None:
    """The row to insert once the moment has come, or None while it has not."""
    ends_on, zone = row.contract_ends_on, row.time_zone
    if not rules.due(ends_on, zone, now):
        return None
    if row.suppressed or not row.email:
        status = RetentionNoticeStatus.SKIPPED
    elif rules.too_late(ends_on, zone, now):
        status = RetentionNoticeStatus.MISSED
    else:
        status = RetentionNoticeStatus.MAILED
    return {
        "contact_id": row.id, "contract_ends_on": ends_on, "status": status,
        "erasure_on": rules.erasure_day(ends_on, grace_days, zone, now), "created_at": now,
        "email": row.email, "locale": row.locale, "time_zone": zone,
    }  # fmt: skip


def _insert() -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (both of ours do)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RetentionNotice)


def _queue(row: dict[str, Any]) -> int:
    locale = row["locale"] if row["locale"] in ("vi", "en") else "vi"
    token = make_token(token_secret(), row["contact_id"], None, "p")
    data = {
        "contract_ends_on": row["contract_ends_on"].isoformat(),
        "erasure_on": row["erasure_on"].isoformat(),
        "records_days": rules.RECORDS_KEPT_DAYS,
        "link": f"{public_base_url()}/p/{token}/privacy?lang={locale}",
    }
    mail = system_mail.queue_mail(
        SystemMailKind.RETENTION, row["email"], locale, data, contact_id=row["contact_id"]
    )
    return mail.id


# ---- for the purge ---------------------------------------------------------------------------


def _decided() -> ColumnElement[bool]:
    """The contact's current end date has its notice row."""
    return exists().where(
        RetentionNotice.contact_id == Contact.id,
        RetentionNotice.contract_ends_on == Contact.contract_ends_on,
    )


def purge_may_erase(now: datetime) -> ColumnElement[bool]:
    """The contacts the purge may erase as far as the notice goes: its row is made and its mail
    has left or failed for good, or the end was too long ago for one (before end_range: erased
    without a notice, as the erasure request records)."""
    first, _ = rules.end_range(now.date())
    unsent = exists().where(
        RetentionNotice.contact_id == Contact.id,
        RetentionNotice.contract_ends_on == Contact.contract_ends_on,
        SystemMail.id == RetentionNotice.system_mail_id,
        SystemMail.status.in_(UNSENT),
    )
    return and_(~unsent, or_(_decided(), Contact.contract_ends_on < first))


def notice_status(contact_id: int, contract_ends_on: Any) -> str:
    """What the erasure request records about the notice: its row's status, or "none"."""
    found = db.session.scalar(
        select(RetentionNotice.status).where(
            RetentionNotice.contact_id == contact_id,
            RetentionNotice.contract_ends_on == contract_ends_on,
        )
    )
    return found or "none"
