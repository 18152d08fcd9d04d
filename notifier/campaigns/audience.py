"""Who a campaign would reach, who it leaves out and why; scheduling in the campaign's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import segments
from notifier.campaigns.audience_sql import ELIGIBLE, reason_per_contact
from notifier.contacts.consent_ledger import purpose_or_error
from notifier.delivery.eligibility import rule_for
from notifier.domain.consent_rules import REFUSAL_RULES
from notifier.domain.errors import ValidationFailed
from notifier.domain.segments import Group
from notifier.infra.extensions import db
from notifier.models import Campaign, utcnow

# Shown in the rule table's order: the most permanent reasons first.
REASONS = tuple(rule.reason.value for rule in REFUSAL_RULES)
GRACE = timedelta(minutes=1)  # a time picked "now" on the page is a few seconds old on arrival


@dataclass(frozen=True)
class Breakdown:
    eligible: int
    excluded: dict[str, int]

    @property
    def matched(self) -> int:
        return self.eligible + sum(self.excluded.values())


def breakdown(purpose_key: str, filters: dict[str, Any], tree: Group | None = None) -> Breakdown:
    """One GROUP BY over the contacts the filters select, with the same rules as planning;
    `tree` is a segment being edited, not yet saved."""
    purpose = purpose_or_error(purpose_key)
    unknown = set(filters) - campaigns.AUDIENCE_KEYS
    if unknown:
        raise ValidationFailed({"audience": f"unknown filters {', '.join(sorted(unknown))}"})
    rows = reason_per_contact(rule_for(purpose), utcnow().date())
    base = campaigns._narrow(rows, filters, utcnow().date())
    if tree is not None:
        base = base.where(segments.clause(tree))
    counts = {str(r): int(n) for r, n in db.session.execute(_grouped(base))}
    eligible = counts.pop(ELIGIBLE, 0)
    return Breakdown(eligible, {r: counts[r] for r in REASONS if counts.get(r)})


def _grouped(base: Any) -> Any:
    sub = base.subquery()
    return select(sub.c.reason, func.count()).group_by(sub.c.reason)


def local_to_utc(local: datetime, time_zone: str) -> datetime:
    """A wall-clock time typed on the page, read in the campaign's zone; impossible ones refused."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed({"time_zone": f"unknown time zone {time_zone!r}"}) from None
    aware = local.replace(tzinfo=zone)
    # A time inside a daylight-saving gap does not survive the round trip through UTC.
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ValidationFailed({"send_at": "this local time does not exist in the time zone"})
    return aware.astimezone(UTC)


def schedule_local(
    campaign_id: int, local: datetime | None, in_recipient_zone: bool = False
) -> Campaign:
    """Schedule at a local time in the campaign's zone, or now when no time is given; with
    `in_recipient_zone`, at that wall-clock time in each recipient's own zone."""
    campaign = campaigns.get_campaign(campaign_id)
    if in_recipient_zone:
        if local is None:
            raise ValidationFailed({"send_at": "is required to send in each recipient's zone"})
        return campaigns.schedule(campaign_id, local_wall=local.replace(tzinfo=None))
    send_at = None
    if local is not None:
        send_at = local_to_utc(local, campaign.time_zone)
        if send_at < utcnow() - GRACE:
            raise ValidationFailed({"send_at": "is in the past"})
    return campaigns.schedule(campaign_id, send_at or utcnow())
