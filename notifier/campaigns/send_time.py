"""A campaign's deliveries in each recipient's own time: planned with their moment.

A campaign sent "at 09:00 local" and advertising under the profile's quiet hours get, when
their audience is planned, each delivery's moment: `pending` when it may leave now, else
`deferred` with `next_attempt_at` set and the reason (`local_time`, `quiet_hours`). The claim
already takes deferred rows whose moment has come (one condition on an indexed column), so
nothing else changes: claims, leases, recovery and the exactly-once rules stay as they are.
The moment depends only on the contact's zone, so it is computed per zone in Python
(domain/send_time.py) and written by the one INSERT ... SELECT as a CASE on the zone: SQLite
has no time-zone database, and a site has tens of zones, not millions.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import String, case, literal, select

from notifier.delivery.claims import Quiet
from notifier.domain.profile import Purpose
from notifier.domain.send_time import QuietHours, Release, release, zone_of
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import Campaign, Contact, DeliveryStatus
from notifier.models.types import UTCDateTime


def quiet_hours(purpose: Purpose) -> QuietHours | None:
    """The profile's email window for advertising; service mail is never held."""
    return profile().quiet_hours.email if purpose.is_advertising else None


def claim_quiet(purpose: Purpose) -> Quiet | None:
    hours = quiet_hours(purpose)
    return Quiet(hours, profile().default_time_zone) if hours else None


def timed(campaign: Campaign, purpose: Purpose) -> bool:
    """Whether planning computes moments per zone; otherwise every row is plainly pending."""
    return campaign.local_send_at is not None or quiet_hours(purpose) is not None


def zones_in_use() -> list[str]:
    """The distinct zones of the contacts (one scan, once per planning)."""
    return [str(z) for z in db.session.scalars(select(Contact.time_zone).distinct())]


def planned_columns(
    campaign: Campaign, purpose: Purpose, zones: list[str], now: datetime
) -> tuple[Any, Any, Any]:
    """status, next_attempt_at and reason of a planned row, as SQL on Contact.time_zone."""
    default = profile().default_time_zone
    wall, quiet = campaign.local_send_at, quiet_hours(purpose)
    fallback = release(now, zone_of(default), wall, quiet)  # unknown zones read as the default
    groups: dict[Release, list[str]] = defaultdict(list)
    for name in zones:
        moment = release(now, zone_of(name, default), wall, quiet)
        if moment != fallback:
            groups[moment].append(name)

    def column(value_of: Any, type_: Any = None) -> Any:
        whens = [
            (Contact.time_zone.in_(names), literal(value_of(r), type_))
            for r, names in groups.items()
        ]
        otherwise = literal(value_of(fallback), type_)
        return case(*whens, else_=otherwise) if whens else otherwise

    return (
        column(_status_of),
        column(lambda r: r.at, UTCDateTime()),
        column(lambda r: r.reason, String()),
    )


def _status_of(moment: Release) -> str:
    return (DeliveryStatus.DEFERRED if moment.at else DeliveryStatus.PENDING).value
