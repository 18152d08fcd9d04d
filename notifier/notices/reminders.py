"""Renewal reminders: each notice type's schedule, and the scheduler's round that turns due
reminders into notices (the notice pipeline then sends them: send_at, consent, ledger).

A round (`create_due`) is set-based: one INSERT ... SELECT per step makes the reminder rows of
every active subscription whose step day is near (domain/reminders.expiry_range), and the
unique key (type, subscription, expiry date, step) makes each once, however many schedulers
race. A bounded batch of new rows then gets its notices in one multi-row insert (the send
moment needs each contact's time zone, which SQLite cannot compute). Stale ones (the
subscription was renewed, cancelled or has expired) are cancelled with their queued notices,
here and by the upsert that changed the subscription; `send_notice` checks again at send time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from notifier import webhooks as outgoing
from notifier.delivery.holdings import template_view
from notifier.delivery.rendering.samples import brand_fields
from notifier.domain import reminders as rules
from notifier.domain.errors import NotFound, ValidationFailed
from notifier.domain.locales import Variants
from notifier.domain.subscriptions import SubscriptionStatus, renewal_fields
from notifier.infra.bulk import among, update_by_id
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import (
    Contact,
    Notice,
    NoticeStatus,
    NoticeType,
    Reminder,
    ReminderSchedule,
    ReminderStatus,
    Subscription,
    Template,
    utcnow,
)
from notifier.notices import types, webhooks

BATCH = 5000  # reminders a round turns into notices; the rest wait for the next round
INSERT_ROWS = 500  # rows per multi-row INSERT: under SQLite's and PostgreSQL's bound limits
SENT_EVENT = "subscription.reminder_sent"
# What a reminder notice's data holds; a type whose template needs more cannot have a schedule.
DATA_FIELDS = frozenset(renewal_fields({})) | {"brand", "reminder_step", "days_left"}
OPEN = (ReminderStatus.PENDING, ReminderStatus.QUEUED)


# ---- schedules -------------------------------------------------------------------------------


def active_type(type_key: str) -> NoticeType:
    # No stored key holds a control character, and PostgreSQL refuses NUL in a query outright.
    if not type_key.isprintable():
        raise NotFound(f"notice type {type_key!r}")
    notice_type = db.session.get(NoticeType, type_key)
    if notice_type is None or not notice_type.active:
        raise NotFound(f"notice type {type_key!r}")
    return notice_type


def schedule_of(type_key: str) -> rules.Schedule | None:
    active_type(type_key)
    stored = db.session.get(ReminderSchedule, type_key)
    if stored is None:
        return None
    return rules.Schedule(tuple(stored.steps), stored.local_hour, stored.paused)


def set_schedule(
    type_key: str, steps: object, local_hour: object, paused: object
) -> rules.Schedule:
    """Create or replace a type's schedule. Refused for a type whose template needs data a
    reminder cannot give (its fields are a subscription's: see DATA_FIELDS)."""
    notice_type = active_type(type_key)
    schedule = rules.check_schedule(steps, local_hour, paused)
    template = db.session.get(Template, notice_type.template_id)
    assert template is not None  # a foreign key
    missing = types.variants_fields(template.sources()).required - DATA_FIELDS
    if missing:
        names = ", ".join(sorted(missing))
        raise ValidationFailed(
            {"steps": f"this type's template needs data a reminder lacks: {names}"}
        )
    stored = db.session.get(ReminderSchedule, type_key) or ReminderSchedule(notice_type=type_key)
    stored.steps, stored.local_hour, stored.paused = (
        list(schedule.steps), schedule.local_hour, schedule.paused,
    )  # fmt: skip
    db.session.add(stored)
    db.session.flush()
    return schedule


def schedules() -> dict[str, rules.Schedule]:
    rows = db.session.scalars(select(ReminderSchedule).order_by(ReminderSchedule.notice_type))
    return {s.notice_type: rules.Schedule(tuple(s.steps), s.local_hour, s.paused) for s in rows}


# ---- the round -----------------------------------------------------------------------------


def create_due(now: datetime) -> int:
    """The scheduler's task: cancel what went stale, make due rows, give a batch its notices.
    Returns how many notices it made."""
    cancel_stale(now=now)
    for type_key, schedule in schedules().items():
        if not schedule.paused:
            for step in schedule.steps:
                _insert_rows(type_key, step, now)
    return _make_notices(now)


def _insert(model: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (both of ours do)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _insert_rows(type_key: str, step: int, now: datetime) -> None:
    """One statement: a reminder row for every subscription the step reminds (active; expired
    too after the expiry date) whose step day is near."""
    first, last = rules.expiry_range(step, now.date())
    rows = select(
        literal(type_key),
        Subscription.id,
        Subscription.expires_on,
        literal(step),
        literal(ReminderStatus.PENDING),
        literal(now, Reminder.created_at.type),
    ).where(
        Subscription.status.in_(rules.reminded_statuses(step)),
        Subscription.expires_on.between(first, last),
    )
    columns = ["notice_type", "subscription_id", "expires_on", "step", "status", "created_at"]
    db.session.execute(_insert(Reminder).from_select(columns, rows).on_conflict_do_nothing())


def _make_notices(now: datetime) -> int:
    """A batch of pending reminders gets its notices; a row whose moment passed more than
    CATCH_UP ago is missed. Two schedulers may take the same batch (SQLite cannot skip locked
    rows): the notices' unique idempotency key keeps each notice once, and both then point the
    row at that one notice."""
    batch = db.session.execute(
        select(
            Reminder.id,
            Reminder.notice_type,
            Reminder.expires_on,
            Reminder.step,
            Subscription,
            Contact.id.label("contact_id"),
            Contact.time_zone,
            ReminderSchedule.local_hour,
            NoticeType.purpose_key,
        )
        .join(Subscription, Subscription.id == Reminder.subscription_id)
        .join(Contact, Contact.id == Subscription.contact_id)
        .join(ReminderSchedule, ReminderSchedule.notice_type == Reminder.notice_type)
        .join(NoticeType, NoticeType.key == Reminder.notice_type)
        .where(Reminder.status == ReminderStatus.PENDING, ReminderSchedule.paused.is_(False))
        .order_by(Reminder.id)
        .limit(BATCH)
        .with_for_update(of=Reminder, skip_locked=True)
    ).all()
    brand = brand_fields(profile().identity)["brand"]
    notices: list[dict[str, Any]] = []
    missed: list[dict[str, Any]] = []
    keys: dict[str, int] = {}
    for row in batch:
        moment = rules.send_moment(row.expires_on, row.step, row.local_hour, row.time_zone)
        if rules.missed(moment, now):
            missed.append({"id": row.id, "status": ReminderStatus.CANCELLED,
                           "reason": rules.Cancel.MISSED})  # fmt: skip
            continue
        key = rules.idempotency_key(row.notice_type, row.Subscription.id, row.expires_on, row.step)
        keys[key] = row.id
        notices.append(_notice_row(row, key, moment, brand, now))
    for start in range(0, len(notices), INSERT_ROWS):
        chunk = notices[start : start + INSERT_ROWS]
        db.session.execute(_insert(Notice).values(chunk).on_conflict_do_nothing())
    made = [
        {"id": keys[key], "notice_id": notice_id, "status": ReminderStatus.QUEUED}
        for notice_id, key in _notice_ids(keys)
    ]
    update_by_id(Reminder, made)
    update_by_id(Reminder, missed)
    return len(made)


def _data(subscription: Subscription, step: int, brand: str) -> dict[str, Any]:
    """A reminder notice's data: the subscription under the renewal layout's names (see
    DATA_FIELDS), the sender's brand, and which step it is."""
    fields = renewal_fields(template_view(subscription))
    return {**fields, "brand": brand, "reminder_step": step, "days_left": -step}


def _notice_row(row: Any, key: str, moment: datetime, brand: str, now: datetime) -> dict:
    data = _data(row.Subscription, row.step, brand)
    return {
        "type": row.notice_type, "purpose_key": row.purpose_key, "contact_id": row.contact_id,
        "idempotency_key": key, "data": data, "status": NoticeStatus.QUEUED, "send_at": moment,
        "attempts": 0, "created_at": now,
    }  # fmt: skip


def _notice_ids(keys: dict[str, int]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    wanted = list(keys)
    for start in range(0, len(wanted), INSERT_ROWS):
        query = select(Notice.id, Notice.idempotency_key).where(
            among(Notice.idempotency_key, wanted[start : start + INSERT_ROWS])
        )
        found.extend((notice_id, key) for notice_id, key in db.session.execute(query))
    return found


# ---- cancelling --------------------------------------------------------------------------------


def _stale() -> Any:
    """The subscription no longer expires on the reminder's date, or its status is no longer
    one the step reminds (domain/reminders.reminded_statuses)."""
    after_expiry = rules.reminded_statuses(1)
    reminded = or_(
        Subscription.status == SubscriptionStatus.ACTIVE,
        and_(Subscription.status.in_(after_expiry), Reminder.step > 0),
    )
    return or_(
        ~reminded,
        Subscription.expires_on.is_(None),
        Subscription.expires_on != Reminder.expires_on,
    )


def _why(status: str) -> str:
    ended = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED)
    return rules.Cancel.CANCELLED if status in ended else rules.Cancel.RENEWED


def cancel_stale(subscription_ids: Iterable[int] | None = None, now: datetime | None = None) -> int:
    """Cancel the open reminders of renewed, cancelled or expired subscriptions (all, or those
    of `subscription_ids`: an upsert's own, in its transaction), and skip their queued notices
    with the reason. Returns how many it cancelled."""
    where = [Reminder.status.in_(OPEN), _stale()]
    if subscription_ids is not None:
        ids = list(subscription_ids)
        if not ids:
            return 0
        where.append(among(Reminder.subscription_id, ids))
    else:
        # Only a reminder whose day can still come matters; older open rows are history.
        oldest = (now or utcnow()).date() - timedelta(days=rules.MAX_STEP + 2)
        where.append(Reminder.expires_on >= oldest)
    found = db.session.execute(
        select(Reminder.id, Reminder.notice_id, Subscription.status)
        .join(Subscription, Subscription.id == Reminder.subscription_id)
        .where(*where)
        .limit(BATCH)
    ).all()
    reasons = {row.id: _why(row.status) for row in found}
    update_by_id(Reminder, [{"id": i, "status": ReminderStatus.CANCELLED, "reason": r}
                            for i, r in reasons.items()])  # fmt: skip
    by_notice = {row.notice_id: reasons[row.id] for row in found if row.notice_id is not None}
    if by_notice:
        queued = select(Notice).where(
            among(Notice.id, list(by_notice)), Notice.status == NoticeStatus.QUEUED
        )
        for notice in db.session.scalars(queued):
            webhooks.change_status(notice, NoticeStatus.SKIPPED, by_notice[notice.id])
    db.session.flush()
    return len(found)


# ---- at send time --------------------------------------------------------------------------


def is_reminder_key(idempotency_key: str) -> bool:
    return idempotency_key.startswith("reminder:")


def refusals(notice_ids: Sequence[int]) -> dict[int, str]:
    """Why each of these reminders' notices must not leave now (the subscription changed since
    it was made), one query for a batch; a notice that may leave is not in the result. Consent
    is checked when a message is sent, and so is what it reminds of."""
    if not notice_ids:
        return {}
    rows = db.session.execute(
        select(Reminder.notice_id, Reminder.status, Reminder.reason, Reminder.step,
               Subscription.status.label("held"),
               and_(Subscription.expires_on == Reminder.expires_on).label("same_day"))
        .join(Subscription, Subscription.id == Reminder.subscription_id)
        .where(Reminder.notice_id.in_(sorted(set(notice_ids))))
    ).all()  # fmt: skip
    found = {row.notice_id: row for row in rows}
    refused: dict[int, str] = {}
    for notice_id in notice_ids:
        row = found.get(notice_id)
        why = rules.Cancel.CANCELLED if row is None else _refusal_of(row)
        if why is not None:
            refused[notice_id] = why
    return refused


def _refusal_of(found: Any) -> str | None:
    if found.status == ReminderStatus.CANCELLED:
        return str(found.reason or rules.Cancel.RENEWED)
    if found.held not in rules.reminded_statuses(found.step):
        return _why(found.held)
    return None if found.same_day else rules.Cancel.RENEWED


def mark_sent(sent: Sequence[tuple[int, int, str | None]], endpoint_ids: tuple[int, ...]) -> None:
    """The reminders of these sent notices (notice id, contact id, its external ref) say so, in
    one UPDATE, and `subscription.reminder_sent` tells the subscribed endpoints (as the batch
    read them once: `webhooks.subscribers`), in the transaction that records the sending."""
    if not sent:
        return
    contacts = {notice_id: (contact_id, ref) for notice_id, contact_id, ref in sent}
    table = Reminder.__table__  # Core: the ORM's bulk update costs more than the statement
    marked = db.session.execute(
        table.update()
        .where(among(table.c.notice_id, sorted(contacts)))
        .values(status=ReminderStatus.SENT)
        .returning(table.c.notice_id, table.c.subscription_id, table.c.notice_type,
                   table.c.step, table.c.expires_on)
    ).all()  # fmt: skip
    if not endpoint_ids:
        return
    for reminder in sorted(marked, key=lambda r: r.notice_id):
        contact_id, external_ref = contacts[reminder.notice_id]
        due_on = reminder.expires_on + timedelta(days=reminder.step)
        outgoing.capture(
            SENT_EVENT,
            {
                "subscription_id": reminder.subscription_id,
                "contact_id": contact_id,
                "external_ref": external_ref,
                "reminder": f"{reminder.notice_type}:{reminder.step:+d}",
                "due_on": due_on.isoformat(),
                "notice_id": reminder.notice_id,
            },
            endpoint_ids,
        )


# ---- for staff -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outlook:
    schedule: rules.Schedule | None
    per_day: dict[date, int]


def upcoming(type_key: str, today: date, days: int = 30) -> Outlook:
    """Reminders per day for the next `days` days, as the schedule stands: one grouped count
    of active subscriptions by expiry date, spread over the steps by the domain."""
    schedule = schedule_of(type_key)
    if schedule is None:
        return Outlook(None, {})
    first = today - timedelta(days=max(schedule.steps))
    last = today + timedelta(days=days - min(schedule.steps))
    counts: dict[str, list[tuple[date, int]]] = {}
    for expires_on, status, count in db.session.execute(
        select(Subscription.expires_on, Subscription.status, func.count())
        .where(
            Subscription.status.in_(rules.reminded_statuses(1)),
            Subscription.expires_on.between(first, last),
        )
        .group_by(Subscription.expires_on, Subscription.status)
    ):
        if expires_on is not None:  # never: between() left those out
            counts.setdefault(status, []).append((expires_on, count))
    per_day = rules.upcoming_days((), [], today, days)
    for status, found in counts.items():
        steps = [s for s in schedule.steps if status in rules.reminded_statuses(s)]
        for day, count in rules.upcoming_days(steps, found, today, days).items():
            per_day[day] += count
    return Outlook(schedule, per_day)


def preview_data(
    type_key: str, subscription_id: int, step: int
) -> tuple[str, dict[str, Any], Variants, str]:
    """What a reminder of `step` for this subscription would be composed from: its contact's
    language, the data, the type's template variants and purpose."""
    notice_type = active_type(type_key)
    found = db.session.execute(
        select(Subscription, Contact.locale)
        .join(Contact, Contact.id == Subscription.contact_id)
        .where(Subscription.id == subscription_id, Contact.erased_at.is_(None))
    ).first()
    if found is None:
        raise NotFound(f"subscription {subscription_id}")
    template = db.session.get(Template, notice_type.template_id)
    assert template is not None  # a foreign key
    brand = brand_fields(profile().identity)["brand"]
    data = _data(found.Subscription, step, brand)
    return found.locale, data, template.sources(), notice_type.purpose_key
