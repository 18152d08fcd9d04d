"""The retention notice when a contract ends, the pure rules: when it leaves, which end dates
a round looks at, and the day the retention purge will erase the person's data.

Under a contract_end retention rule (DCNET's policy, clause (c)) a customer's personal data is
kept until their contract ends, then erased; the customer is told once, on the end day. No I/O:
the caller reads the clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from notifier.domain.reminders import missed, send_moment, zone_of

# The end day at 09:00 in the contact's own time zone: after the quiet hours (21:00-08:00, moved
# out of them by the reminders' rule) and hours before the purge's next day begins anywhere
# near Vietnam.
LOCAL_HOUR = 9
# The consent, refusal and confirmation records kept after erasure (Decree 91/2020 Art 11).
RECORDS_KEPT_DAYS = 365


def moment(contract_ends_on: date, time_zone: str | None) -> datetime:
    """When the notice leaves, in UTC: the end day at LOCAL_HOUR in the contact's zone (an
    unknown zone reads as the default one, as for reminders)."""
    return send_moment(contract_ends_on, 0, LOCAL_HOUR, time_zone)


def end_range(today: date) -> tuple[date, date]:
    """The end dates a round on UTC date `today` decides: from a day back (a notice up to a day
    late is still sent, the reminders' catch-up rule) to a day ahead (local dates are at most
    14 hours from UTC). A plain range, so the query uses the index."""
    return today - timedelta(days=1), today + timedelta(days=1)


def too_late(contract_ends_on: date, time_zone: str | None, now: datetime) -> bool:
    """Its moment passed more than a day ago: recorded as missed, never sent (a scheduler that
    was down for days tells nobody that their data is about to go, or went, days ago)."""
    return missed(moment(contract_ends_on, time_zone), now)


def due(contract_ends_on: date, time_zone: str | None, now: datetime) -> bool:
    return moment(contract_ends_on, time_zone) <= now


def planned_erasure(contract_ends_on: date, grace_days: int) -> date:
    """The first day the purge erases the data: the purge erases a contact whose end date is
    more than grace_days before its day, so with no grace period the day after the end day."""
    return contract_ends_on + timedelta(days=grace_days + 1)


def erasure_day(
    contract_ends_on: date, grace_days: int, time_zone: str | None, now: datetime
) -> date:
    """The day the notice names: the planned one, or the contact's today when the notice is late
    and the purge, which waits for it, erases right after it has left."""
    today = now.astimezone(zone_of(time_zone)).date()
    return max(planned_erasure(contract_ends_on, grace_days), today)
