"""A renewal campaign's per-recipient data: each claimed contact's subscriptions, read for the
whole batch in ONE query (never one per message), and the one expiring in the campaign's window
picked by the domain rule (notifier/domain/subscriptions.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from notifier.domain.subscriptions import Held, SubscriptionStatus, expiring
from notifier.infra.bulk import among
from notifier.infra.extensions import db
from notifier.models import Subscription

WINDOW_KEY = "expiring_within_days"  # the campaign audience's filter that sets the window
NO_SUBSCRIPTION = "no_subscription_in_window"  # the ledger's reason for a recipient skipped


@dataclass(frozen=True)
class Window:
    today: date  # the campaign's date in its time zone
    days: int


def window_of(audience: Mapping[str, Any] | None, time_zone: str, now: datetime) -> Window | None:
    """The renewal window a campaign's audience sets, or None (no per-recipient data)."""
    days = (audience or {}).get(WINDOW_KEY)
    if not isinstance(days, int) or isinstance(days, bool):
        return None
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Asia/Ho_Chi_Minh")
    return Window(now.astimezone(zone).date(), days)


@dataclass(frozen=True)
class Holdings:
    """One recipient's subscriptions as a renewal template sees them."""

    expiring: dict[str, Any] | None
    active: tuple[dict[str, Any], ...]


def template_view(sub: Subscription) -> dict[str, Any]:
    """Plain values: dates as ISO text and amounts as numbers, as campaign data holds them, so
    the `date` and `money` filters read both alike."""
    return {
        "external_id": sub.external_id,
        "kind": sub.kind,
        "name": sub.name,
        "plan": sub.plan,
        "expires_on": sub.expires_on.isoformat() if sub.expires_on else "",
        "amount": _number(sub.amount),
        "currency": sub.currency or "",
        "renewal_url": sub.renewal_url or "",
        "status": sub.status,
        "attributes": dict(sub.attributes or {}),
    }


def _number(amount: Decimal | None) -> int | float | str:
    if amount is None:
        return ""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def holdings_of(contact_ids: Iterable[int], window: Window) -> dict[int, Holdings]:
    """The subscriptions of a claimed batch, in one query."""
    ids = list(contact_ids)
    if not ids:
        return {}
    rows: dict[int, list[Subscription]] = {}
    for sub in db.session.scalars(
        select(Subscription)
        .where(among(Subscription.contact_id, ids))
        .order_by(Subscription.contact_id, Subscription.expires_on, Subscription.id)
    ):
        rows.setdefault(sub.contact_id, []).append(sub)
    result = {}
    for contact_id in ids:
        held = rows.get(contact_id, [])
        soonest = expiring(
            (Held(s.id, s.status, s.expires_on) for s in held), window.today, window.days
        )
        chosen = next((s for s in held if soonest is not None and s.id == soonest.id), None)
        active = tuple(template_view(s) for s in held if s.status == SubscriptionStatus.ACTIVE)
        result[contact_id] = Holdings(template_view(chosen) if chosen else None, active)
    return result
