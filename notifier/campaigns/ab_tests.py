"""A/B subject tests: hold the audience, send a sample its variants, pick the winner, release
the rest with the winner's subject (docs/ab-tests.md; the rules are domain/ab_test.py).

The ledger does the holding: planning writes every delivery once, as `deferred` with reason
`ab_test` and no moment (the claim takes deferred rows only once `next_attempt_at` has come, so
these wait), then one UPDATE gives the sample its variants and makes it pending. After the wait,
the scheduler's round counts people per variant, stores the winner with one UPDATE conditional
on there being none yet, and in the same transaction releases the held rows with it. Claims,
leases, recovery, the cap and exactly-once are those of every campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, and_, cast, distinct, func, literal, select, update

from notifier.delivery.composer import Subjects, build_composer, with_subject
from notifier.delivery.rendering.errors import TemplateError
from notifier.domain import ab_test
from notifier.domain.ab_test import Settings, Tally, Verdict
from notifier.domain.errors import ValidationFailed
from notifier.domain.locales import DEFAULT_LOCALE, Variants
from notifier.domain.profile import TRACK_CLICKS, TRACK_OPENS
from notifier.domain.tokens import CLICK, OPEN
from notifier.infra.context import settings as config
from notifier.infra.extensions import db
from notifier.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from notifier.models.tracking import TrackingEvent

HELD = "ab_test"  # the reason of a delivery waiting for the winner
SENT = (DeliveryStatus.SENT, DeliveryStatus.BOUNCED)


def parse(raw: Any) -> Settings | None:
    """The settings from an admin form or an API body ({"variants": [{"vi", "en"}, ...],
    "sample_percent", "wait_hours", "metric"}); None: no test. ValidationFailed by field."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("variants"), list):
        raise ValidationFailed({"ab_variants": f"needs {ab_test.MIN_VARIANTS} to "
                                                f"{ab_test.MAX_VARIANTS} subjects"})  # fmt: skip
    pairs = [
        (v.get("vi"), v.get("en")) if isinstance(v, dict) else (None, None) for v in raw["variants"]
    ]
    settings, errors = ab_test.check(
        pairs, raw.get("sample_percent"), raw.get("wait_hours"), raw.get("metric")
    )
    if errors:
        raise ValidationFailed(errors)
    return settings


def check_subjects(sources: Variants, purpose_key: str, settings: Settings) -> None:
    """Each subject compiles with the template's body (a subject is a template line too)."""
    for number, texts in enumerate(settings.subjects, start=1):
        for locale, variant in with_subject(sources, texts):
            try:
                build_composer(((DEFAULT_LOCALE, variant),), purpose_key)
            except TemplateError as exc:
                raise ValidationFailed({f"ab_subject_{number}_{locale}": str(exc)}) from None


def subjects(campaign: Campaign) -> Subjects:
    """The campaign's test subjects for its composer; () without a test (no cost then)."""
    settings = ab_test.settings_of(campaign.ab_test)
    return settings.subjects if settings else ()


def planned_columns() -> tuple[Any, Any]:
    """status and reason of a planned row of a campaign with a test: held, with no moment."""
    return literal(DeliveryStatus.DEFERRED.value), literal(HELD)


def draw_sample(campaign: Campaign, now: datetime) -> int:
    """Give the sample its variants and make it pending, once (the planning's last step, in
    its transaction); the winner is then due after the wait. Returns the sample's size."""
    settings = ab_test.settings_of(campaign.ab_test)
    if settings is None or campaign.ab_decide_at is not None:
        return 0
    held = and_(
        Delivery.campaign_id == campaign.id,
        Delivery.status == DeliveryStatus.DEFERRED,
        Delivery.reason == HELD,
    )
    audience = int(db.session.scalar(select(func.count()).where(held)) or 0)
    variants = len(settings.subjects)
    size = ab_test.sample_size(audience, settings.sample_percent, variants)
    # domain/ab_test.order_key in SQL, computed in 64 bits on both databases.
    key = (
        cast(Delivery.contact_id, BigInteger) * literal(ab_test.HASH_MULTIPLIER, BigInteger)
        + literal(ab_test.campaign_offset(campaign.id), BigInteger)
    ) % literal(ab_test.HASH_MODULUS, BigInteger)
    rank = func.row_number().over(order_by=(key, Delivery.contact_id)) - 1
    ranked = select(Delivery.id.label("id"), rank.label("rank")).where(held).subquery()
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == ranked.c.id, ranked.c.rank < size)
        .values(
            status=DeliveryStatus.PENDING,
            reason=None,
            variant=ranked.c.rank % variants + 1,
        ),
        execution_options={"synchronize_session": False},
    )
    hour = config().AB_TEST_HOUR_SECONDS  # 3600 but in journeys of processes (docs/ab-tests.md)
    campaign.ab_decide_at = now + timedelta(seconds=hour * settings.wait_hours)
    db.session.flush()
    return size


def pick_due(now: datetime) -> int:
    """The scheduler's step: pick the winner of each test whose wait is over (before the
    campaigns' reconcile, which then enqueues senders for the released rows)."""
    due = list(
        db.session.scalars(
            select(Campaign.id).where(
                Campaign.ab_winner.is_(None),
                Campaign.ab_decide_at <= now,
                Campaign.status == CampaignStatus.SENDING,
            )
        )
    )
    return sum(pick(campaign_id, now) for campaign_id in due)


def pick(campaign_id: int, now: datetime) -> bool:
    """Count, decide, store the winner if nobody did, and release the held rows with it; False
    when another process picked first (its UPDATE made this one's match nothing)."""
    campaign = db.session.get(Campaign, campaign_id)
    settings = ab_test.settings_of(campaign.ab_test if campaign else None)
    if campaign is None or settings is None:
        return False
    found = tallies(campaign_id, settings)
    verdict = ab_test.pick_winner([t for t, _ in found])
    result = {**(campaign.ab_test or {}), **_stored_result(verdict, found, now)}
    won = db.session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.ab_winner.is_(None),
            Campaign.status == CampaignStatus.SENDING,
        )
        .values(ab_winner=verdict.winner, ab_test=result),
        execution_options={"synchronize_session": False},
    )
    if not won.rowcount:  # type: ignore[attr-defined]
        return False
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status == DeliveryStatus.DEFERRED,
            Delivery.reason == HELD,
        )
        .values(status=DeliveryStatus.PENDING, reason=None, variant=verdict.winner),
        execution_options={"synchronize_session": False},
    )
    db.session.flush()
    return True


def tallies(campaign_id: int, settings: Settings) -> list[tuple[Tally, int]]:
    """Per variant of the sample: (messages tracked for the metric and people who engaged,
    messages sent). Before the pick only the sample has a variant."""
    flag = TRACK_CLICKS if settings.metric == ab_test.CLICKS else TRACK_OPENS
    kind = CLICK if settings.metric == ab_test.CLICKS else OPEN
    in_sample = and_(
        Delivery.campaign_id == campaign_id,
        Delivery.variant.is_not(None),
        Delivery.status.in_(SENT),
    )
    sent = _by_variant(select(Delivery.variant, func.count()).where(in_sample))
    tracked = _by_variant(
        select(Delivery.variant, func.count()).where(
            in_sample, Delivery.tracking.op("&")(flag) != 0
        )
    )
    people = _by_variant(
        select(Delivery.variant, func.count(distinct(TrackingEvent.contact_id)))
        .join(
            TrackingEvent,
            and_(
                TrackingEvent.campaign_id == Delivery.campaign_id,
                TrackingEvent.contact_id == Delivery.contact_id,
            ),
        )
        .where(in_sample, TrackingEvent.kind == kind, TrackingEvent.flags == 0)
    )
    return [
        (Tally(n, tracked.get(n, 0), people.get(n, 0)), sent.get(n, 0))
        for n in range(1, len(settings.subjects) + 1)
    ]


def _by_variant(query: Any) -> dict[int, int]:
    return {int(v): int(c) for v, c in db.session.execute(query.group_by(Delivery.variant))}


def _stored_result(
    verdict: Verdict, found: list[tuple[Tally, int]], now: datetime
) -> dict[str, Any]:
    return {
        "reason": verdict.reason,
        "decided_at": now.isoformat(),
        "tallies": [
            {"variant": t.variant, "sent": sent, "tracked": t.tracked, "people": t.people}
            for t, sent in found
        ],
    }


@dataclass(frozen=True)
class VariantRow:
    letter: str
    subject_vi: str
    subject_en: str
    sent: int
    tracked: int
    people: int
    winner: bool


@dataclass(frozen=True)
class Report:
    """What the campaign page shows of a test: live counts until the pick, then those the
    pick was made on."""

    metric: str
    sample_percent: int
    wait_hours: int
    decide_at: datetime | None
    reason: str | None
    rows: list[VariantRow]


def report(campaign: Campaign) -> Report | None:
    settings = ab_test.settings_of(campaign.ab_test)
    if settings is None:
        return None
    stored = campaign.ab_test or {}
    if campaign.ab_winner is not None and stored.get("tallies"):
        counts = {
            int(row["variant"]): (int(row["sent"]), int(row["tracked"]), int(row["people"]))
            for row in stored["tallies"]
        }
    else:
        counts = {
            t.variant: (sent, t.tracked, t.people) for t, sent in tallies(campaign.id, settings)
        }
    rows = [
        VariantRow(
            ab_test.letter(n), vi, en, *counts.get(n, (0, 0, 0)), winner=campaign.ab_winner == n
        )
        for n, (vi, en) in enumerate(settings.subjects, start=1)
    ]
    return Report(
        settings.metric,
        settings.sample_percent,
        settings.wait_hours,
        campaign.ab_decide_at,
        stored.get("reason"),
        rows,
    )
