"""When a privacy request must be acknowledged and completed (Decree 13/2023, Law 91/2025)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

ACKNOWLEDGE_WORKING_DAYS = 2
COMPLETE_WITHIN = timedelta(hours=72)


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: datetime
    complete_by: datetime


def deadlines(received: datetime, time_zone: str) -> Deadlines:
    """Acknowledge within 2 working days (Monday to Friday in the company's zone), complete
    within 72 hours. Completing a request also acknowledges it, so the acknowledgement is
    never due after completion: over a weekend 2 working days are longer than 72 hours.
    """
    if received.tzinfo is None:
        raise ValueError("received must be timezone-aware")
    local = received.astimezone(ZoneInfo(time_zone))
    counted = 0
    while counted < ACKNOWLEDGE_WORKING_DAYS:
        local += timedelta(days=1)
        counted += local.weekday() < 5
    complete_by = received + COMPLETE_WITHIN
    acknowledge_by = min(local.astimezone(received.tzinfo), complete_by)
    return Deadlines(acknowledge_by=acknowledge_by, complete_by=complete_by)
