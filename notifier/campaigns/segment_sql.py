"""A segment's condition tree (domain.segments) compiled to one SQL condition on Contact.

Every value is a bound parameter and every name in the SQL comes from the validated tree's
fixed vocabulary, never from input. The meaning is domain.segments.matches, on SQLite and
PostgreSQL alike: exact, case-sensitive text (strpos/instr, not LIKE, whose case rules differ
between the two), numbers and dates tested for their shape before they are cast or compared, so
one odd attribute value never fails a count. Engagement is correlated EXISTS over the contact's
tracking events and deliveries (their contact_id indexes), read at the Horizon given; so are
subscriptions (ix_subscriptions_contact_id), on the Horizon's local day.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased

from notifier.domain import segments
from notifier.domain.segments import Condition, Group, Horizon
from notifier.domain.subscriptions import SubscriptionStatus
from notifier.models import (
    ConsentState,
    Contact,
    ContactTag,
    Delivery,
    DeliveryStatus,
    Subscription,
    TrackingEvent,
)

NUMBER_TYPE = Numeric(15, 3)
# The same shapes as segments.NUMBER and segments.DATE, for PostgreSQL's regular expressions.
PG_NUMBER = r"^-?[0-9]{1,12}(\.[0-9]{1,3})?$"
PG_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def segment_clause(group: Group, dialect: str, horizon: Horizon) -> ColumnElement[bool]:
    """The tree as one boolean expression, correlated to the Contact of the enclosing query."""
    parts = [
        segment_clause(item, dialect, horizon)
        if isinstance(item, Group)
        else _condition(item, dialect, horizon)
        for item in group.items
    ]
    return and_(true(), *parts) if group.match == "all" else or_(false(), *parts)


def _condition(c: Condition, dialect: str, horizon: Horizon) -> ColumnElement[bool]:
    if c.field in segments.ENGAGEMENT_FIELDS:
        since = horizon.now - timedelta(days=int(c.value))  # type: ignore[arg-type]
        engaged = exists().where(_peoples_events(c.field), TrackingEvent.at >= since)
        return engaged if c.op == "within" else ~engaged
    if c.field == "last_campaigns":
        return _last_unopened(int(c.value), horizon)  # type: ignore[arg-type]
    if c.field == "subscription":
        return _subscription(c, horizon.today)
    if c.field == "tag":
        has = exists().where(ContactTag.contact_id == Contact.id, ContactTag.tag == str(c.value))
        return has if c.op == "has" else ~has
    if c.field == "consent":
        return _consent(c.key, str(c.value))
    if c.field == "received":
        sent = exists().where(
            Delivery.contact_id == Contact.id,
            Delivery.campaign_id == int(c.value),  # type: ignore[arg-type]
            Delivery.status == DeliveryStatus.SENT.value,
        )
        return sent if c.op == "received" else ~sent
    if c.field == "created_at":
        assert isinstance(c.value, date)
        return _created(c.op, c.value)
    text: ColumnElement[str] = (
        _attribute_text(c.key, dialect) if c.field == "attribute" else getattr(Contact, c.field)
    )
    if c.op == "is_set":
        return and_(text.is_not(None), text != "")
    if c.type == "number":
        assert isinstance(c.value, Decimal)
        number = case((_shaped_number(text, dialect), cast(text, NUMBER_TYPE)), else_=None)
        return _ordered(c.op, number, literal(c.value, NUMBER_TYPE))
    if c.type == "date":
        assert isinstance(c.value, date)
        shaped = and_(_shaped_date(text, dialect), text.is_not(None))
        return and_(shaped, _ordered(c.op, text, literal(c.value.isoformat(), String)))
    value = str(c.value)
    if c.op == "eq":
        return text == value
    if c.op == "ne":
        return text != value
    if c.op == "contains":
        finder = func.strpos if dialect == "postgresql" else func.instr
        return finder(text, value) > 0
    return func.substr(text, 1, len(value)) == value  # starts_with


def _subscription(c: Condition, today: date) -> ColumnElement[bool]:
    """segments._subscription_holds: one of the contact's subscriptions (of the kind) is so."""
    held = [Subscription.contact_id == Contact.id]
    if c.key:
        held.append(Subscription.kind == c.key)
    active = Subscription.status == SubscriptionStatus.ACTIVE.value
    if c.op == "active":
        fresh = or_(Subscription.expires_on.is_(None), Subscription.expires_on >= today)
        return exists().where(*held, active, fresh)
    days = timedelta(days=int(c.value))  # type: ignore[arg-type]
    if c.op == "expires_within":
        due = and_(
            active, Subscription.expires_on >= today, Subscription.expires_on <= today + days
        )
    else:  # expired_within
        due = and_(
            Subscription.status.in_(segments.RENEWAL_DUE),
            Subscription.expires_on >= today - days,
            Subscription.expires_on < today,
        )
    return exists().where(*held, due)


def _attribute_text(key: str, dialect: str) -> ColumnElement[str]:
    """Text and numbers as written; true, false, null, lists and objects are absent
    (segments.attribute_text)."""
    if dialect == "postgresql":
        kind = func.json_typeof(Contact.attributes.op("->")(literal(key, String)))
        scalar = kind.in_(["string", "number"])
    else:
        # The key is letters, digits and _ (segments.KEY), so this path names one member.
        kind = func.json_type(Contact.attributes, literal(f'$."{key}"', String))
        scalar = kind.in_(["text", "integer", "real"])
    return case((scalar, cast(Contact.attributes[key].as_string(), String)), else_=None)


def _peoples_events(field_name: str) -> ColumnElement[bool]:
    return and_(
        TrackingEvent.contact_id == Contact.id,
        TrackingEvent.flags == 0,
        TrackingEvent.kind.in_(segments.engagement_kinds(field_name)),
    )


def _last_unopened(n: int, horizon: Horizon) -> ColumnElement[bool]:
    """segments._engaged for "last_campaigns": at least n deliveries with the pixel since every
    event is still kept (so the n latest are all among them), and no open or click by the person
    of the campaigns of the n latest."""
    tracked = and_(
        Delivery.contact_id == Contact.id,
        Delivery.status == DeliveryStatus.SENT.value,
        Delivery.tracking.in_(segments.TRACKED_FOR_OPENS),
        Delivery.sent_at.is_not(None),
    )
    enough = exists(
        select(Delivery.id)
        .where(tracked, Delivery.sent_at >= horizon.kept_since)
        .limit(1)
        .offset(n - 1)
    )
    latest = (
        select(Delivery.campaign_id)
        .where(tracked)
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(n)
        .correlate(Contact)  # two levels down: auto-correlation looks one level up only
    )
    opened = exists().where(_peoples_events("opened"), TrackingEvent.campaign_id.in_(latest))
    return and_(enough, ~opened)


def _consent(purpose_key: str, state: str) -> ColumnElement[bool]:
    row = aliased(ConsentState)
    correlated = and_(row.contact_id == Contact.id, row.purpose_key == purpose_key)
    if state == "none":
        return ~exists().where(correlated, row.status.in_(segments.CONSENT_STATES[:-1]))
    return exists().where(correlated, row.status == state)


def _created(op: str, day: date) -> ColumnElement[bool]:
    # Ranges on the column itself, so an index on created_at serves them.
    start, end = segments.day_start(day), segments.next_day_start(day)
    column = Contact.created_at
    return {
        "eq": and_(column >= start, column < end),
        "ne": or_(column < start, column >= end),
        "lt": column < start,
        "le": column < end,
        "gt": column >= end,
        "ge": column >= start,
    }[op]


def _ordered(op: str, left: ColumnElement, right: ColumnElement) -> ColumnElement[bool]:
    return segments.COMPARISONS[op](left, right)


def _shaped_number(text: ColumnElement[str], dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return text.op("~", is_comparison=True)(PG_NUMBER)
    # SQLite has no regular expressions without a Python function per row, so GLOB spells
    # segments.NUMBER out: optional minus, digits, at most one inner dot, 12 and 3 digits.
    body = case((func.substr(text, 1, 1) == "-", func.substr(text, 2)), else_=text)
    dot = func.instr(body, ".")
    return and_(
        body != "",
        ~body.op("GLOB", is_comparison=True)("*[^0-9.]*"),
        ~body.op("GLOB", is_comparison=True)(".*"),
        ~body.op("GLOB", is_comparison=True)("*."),
        ~body.op("GLOB", is_comparison=True)("*.*.*"),
        or_(
            and_(dot == 0, func.length(body) <= 12),
            and_(dot > 0, dot - 1 <= 12, func.length(body) - dot <= 3),
        ),
    )


def _shaped_date(text: ColumnElement[str], dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return text.op("~", is_comparison=True)(PG_DATE)
    return text.op("GLOB", is_comparison=True)("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]")
