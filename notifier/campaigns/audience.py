"""Who a campaign would reach, who it leaves out and why; scheduling in the campaign's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, case, exists, func, literal, select

from notifier.campaigns import lifecycle as campaigns
from notifier.contacts.consent_ledger import purpose_or_error
from notifier.domain.errors import ValidationFailed
from notifier.domain.profile import LegalBasis
from notifier.infra.extensions import db
from notifier.models import Campaign, ConsentState, Contact, Suppression, utcnow

ELIGIBLE = "eligible"
# Shown in this order: the most permanent reasons first.
REASONS = (
    "erased", "restricted", "suppressed", "withdrawn", "no_consent", "pending_confirmation",
    "contract_ended",
)  # fmt: skip
GRACE = timedelta(minutes=1)  # a time picked "now" on the page is a few seconds old on arrival


@dataclass(frozen=True)
class Breakdown:
    eligible: int
    excluded: dict[str, int]

    @property
    def matched(self) -> int:
        return self.eligible + sum(self.excluded.values())


def breakdown(purpose_key: str, filters: dict[str, Any]) -> Breakdown:
    """One GROUP BY over the contacts the filters select, with the same rules as planning."""
    purpose = purpose_or_error(purpose_key)
    unknown = set(filters) - campaigns.AUDIENCE_KEYS
    if unknown:
        raise ValidationFailed({"audience": f"unknown filters {', '.join(sorted(unknown))}"})
    scopes = ["all", purpose.key] + (["advertising"] if purpose.is_advertising else [])
    suppressed = exists().where(
        Suppression.address_hash == Contact.address_hash, Suppression.scope.in_(scopes)
    )
    state = and_(ConsentState.contact_id == Contact.id, ConsentState.purpose_key == purpose.key)
    if purpose.legal_basis is LegalBasis.CONSENT:
        basis = [
            (ConsentState.status.is_(None), literal("no_consent")),
            (ConsentState.status == "pending", literal("pending_confirmation")),
            (ConsentState.status == "withdrawn", literal("withdrawn")),
            (ConsentState.status != "granted", literal("no_consent")),
        ]
    else:
        today = utcnow().date()
        basis = [
            (ConsentState.status == "withdrawn", literal("withdrawn")),
            (Contact.contract_ends_on < today, literal("contract_ended")),
        ]
    reason = case(
        (Contact.email.is_(None) | Contact.erased_at.is_not(None), literal("erased")),
        (Contact.restricted_at.is_not(None), literal("restricted")),
        (suppressed, literal("suppressed")),
        *basis,
        else_=literal(ELIGIBLE),
    ).label("reason")
    base = campaigns._narrow(select(Contact.id, reason).outerjoin(ConsentState, state), filters)
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


def schedule_local(campaign_id: int, local: datetime | None) -> Campaign:
    """Schedule at a local time in the campaign's zone, or now when no time is given."""
    campaign = campaigns.get_campaign(campaign_id)
    send_at = None
    if local is not None:
        send_at = local_to_utc(local, campaign.time_zone)
        if send_at < utcnow() - GRACE:
            raise ValidationFailed({"send_at": "is in the past"})
    return campaigns.schedule(campaign_id, send_at or utcnow())
