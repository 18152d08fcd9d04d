"""RSVP to an event campaign, the pure rules: the signed link naming (campaign, contact), and
when the reminder before the event may leave. No I/O: the caller reads the clock and secret.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.domain.reminders import QUIET_FROM, QUIET_UNTIL, zone_of
from notifier.domain.tokens import make_campaign_token, read_campaign_token

# Its own token action: the MAC covers it, so an unsubscribe ("u") or preferences ("p") token
# can never be read as an RSVP token, nor an RSVP token as either of them.
RSVP_ACTION = "rsvp"
# The reminder goes out once the event is this close; an event already started gets nothing.
REMINDER_BEFORE = timedelta(hours=24)


def rsvp_token(secret: bytes, campaign_id: int, contact_id: int) -> str:
    """The token of one contact's RSVP link for one campaign (the campaign in the purpose slot)."""
    return make_campaign_token(secret, campaign_id, contact_id, RSVP_ACTION)


def read_rsvp_token(secret: bytes, token: str) -> tuple[int, int]:
    """(campaign id, contact id) of a genuine RSVP token; InvalidToken for anything else."""
    return read_campaign_token(secret, token, RSVP_ACTION)


def starts_at_of(data: dict[str, object]) -> datetime | None:
    """The event's start from campaign data (ISO 8601 with an offset), None when it has none."""
    value = data.get("starts_at")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def open_for_rsvp(starts_at: datetime | None, now: datetime) -> bool:
    """Registering (and cancelling) ends when the event starts."""
    return starts_at is not None and now < starts_at


def in_quiet_hours(now: datetime, time_zone: str | None) -> bool:
    """21:00 to 08:00 in the contact's own time (docs/reminders.md, "Quiet hours")."""
    hour = now.astimezone(zone_of(time_zone)).hour
    return hour >= QUIET_FROM or hour < QUIET_UNTIL


def reminder_due(starts_at: datetime, now: datetime, time_zone: str | None) -> bool:
    """The reminder may leave in the last REMINDER_BEFORE before the start, outside the
    contact's quiet hours: a window that opens at night waits for 08:00 local, but nothing goes
    out once the event has started (a registration at 23:00 for an event at 07:00 the next
    morning gets no reminder; its confirmation has just been sent)."""
    if not starts_at - REMINDER_BEFORE <= now < starts_at:
        return False
    return not in_quiet_hours(now, time_zone)
