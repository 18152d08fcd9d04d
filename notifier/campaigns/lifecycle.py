"""Campaigns: define, schedule, plan the audience in one SQL statement, send, pause, finish."""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from notifier import webhooks
from notifier.campaigns import ab_tests, preflight, send_time
from notifier.campaigns.audience_sql import eligible_contacts
from notifier.campaigns.catalogue import kept_version
from notifier.campaigns.segments import saved_clause
from notifier.campaigns.templates import get_template
from notifier.contacts.consent_ledger import purpose_or_error
from notifier.delivery import liveness
from notifier.delivery.claims import claim_batch
from notifier.delivery.composer import (
    Composer,
    Recipient,
    build_composer,
    cached_composer,
    envelope_sender,
    event_invitation,
    transport,
    with_subject,
)
from notifier.delivery.eligibility import rule_for
from notifier.delivery.holdings import WINDOW_KEY, window_of
from notifier.delivery.sending import send_claim
from notifier.domain.ab_test import Settings as AbSettings
from notifier.domain.addresses import InvalidAddress, normalise_email
from notifier.domain.errors import Conflict, NotFound, ValidationFailed
from notifier.domain.locales import DEFAULT_LOCALE, LOCALES, Variants, variant_locale
from notifier.domain.profile import Purpose
from notifier.domain.send_outcome import SendResult
from notifier.domain.send_time import earliest_moment, latest_moment
from notifier.domain.subscriptions import SubscriptionStatus
from notifier.feedback.rates import pause_on_rates
from notifier.infra.context import profile, settings
from notifier.infra.extensions import db
from notifier.infra.queues import CAMPAIGNS, SEND, enqueue_after_commit, queue, redis_connection
from notifier.infra.redis_conn import REDIS_FAULTS
from notifier.infra.unit_of_work import checkpoint
from notifier.mail.body import Attachment
from notifier.mail.smtp import TransportError
from notifier.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Contact,
    ContactTag,
    Delivery,
    DeliveryStatus,
    Segment,
    StaffUser,
    Subscription,
    Template,
    utcnow,
)
from notifier.notices.notices import NoticeDesk

log = logging.getLogger(__name__)
PLAN_JOB = "workers.jobs.plan_campaign"
SEND_JOB = "workers.jobs.send_campaign"
JOB_SECONDS = 60  # a send job hands over to a fresh one after this, so queues stay fair
RETRY_WAIT_SECONDS = 10.0  # a send job waits this long at most for its campaign's next retry
RATE_CHECK_SECONDS = 5.0
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.DEFERRED)
AUDIENCE_KEYS = frozenset({"tags", "locale", "attributes", "contact_ids", "segment", WINDOW_KEY})


@dataclass(frozen=True)
class CampaignInput:
    name: str
    kind: str
    purpose_key: str
    template_id: int
    audience: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    send_at: datetime | None = None
    time_zone: str = "Asia/Ho_Chi_Minh"
    ab_test: AbSettings | None = None  # an A/B subject test (campaigns/ab_tests.py)


def _scheduled_version(campaign: Campaign) -> tuple[int, Variants]:
    """The template version the campaign was scheduled with, as kept when it was saved; the
    current one for a draft (it is pinned when scheduled) and for campaigns from before
    versions were kept. Test sends and sends alike use it."""
    if campaign.status != CampaignStatus.DRAFT and campaign.template_version is not None:
        kept = kept_version(campaign.template_id, campaign.template_version)
        if kept is not None:
            return kept.version, kept.sources()
    template = get_template(campaign.template_id)
    return template.version, template.sources()


def create_campaign(data: CampaignInput, staff_id: int | None = None) -> Campaign:
    purpose = _check(data)
    template = db.session.get(Template, data.template_id)
    assert template is not None  # _check verified it
    campaign = Campaign(
        name=data.name.strip(),
        kind=data.kind,
        purpose_key=purpose.key,
        template_id=template.id,
        template_version=template.version,
        audience=_with_renewal_window(data.kind, data.audience),
        data=data.data,
        send_at=data.send_at,
        time_zone=data.time_zone,
        status=CampaignStatus.DRAFT,
        created_by=staff_id,
        ab_test=data.ab_test.stored() if data.ab_test else None,
    )
    db.session.add(campaign)
    db.session.flush()
    return campaign


# A renewal campaign always reads each recipient's own subscriptions: without a window set, the
# next 30 days. Its campaign data is then only the template's sample, never sent as such.
DEFAULT_RENEWAL_WINDOW_DAYS = 30


def _with_renewal_window(kind: str, audience: dict[str, Any]) -> dict[str, Any]:
    if kind != CampaignKind.RENEWAL or audience.get(WINDOW_KEY):
        return audience
    return {**audience, WINDOW_KEY: DEFAULT_RENEWAL_WINDOW_DAYS}


def _check(data: CampaignInput) -> Purpose:
    errors: dict[str, str] = {}
    if not data.name.strip():
        errors["name"] = "is required"
    if data.kind not in {k.value for k in CampaignKind}:
        errors["kind"] = f"one of {', '.join(k.value for k in CampaignKind)}"
    unknown = set(data.audience) - AUDIENCE_KEYS
    if unknown:
        errors["audience"] = f"unknown filters {', '.join(sorted(unknown))}"
    if data.audience.get("segment") is not None:
        segment = data.audience["segment"]
        if (
            not isinstance(segment, int)
            or isinstance(segment, bool)
            or not db.session.get(Segment, segment)
        ):
            errors["audience"] = "no such segment"
    try:
        ZoneInfo(data.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = f"unknown time zone {data.time_zone!r}"
    if data.send_at is not None and data.send_at.tzinfo is None:
        errors["send_at"] = "needs a time zone offset"
    template = db.session.get(Template, data.template_id)
    if template is None:
        errors["template_id"] = "no such template"
    elif template.purpose_key != data.purpose_key:
        errors["template_id"] = f"the template is for purpose {template.purpose_key}"
    if errors:
        raise ValidationFailed(errors)
    purpose = purpose_or_error(data.purpose_key)
    if data.kind == CampaignKind.EVENT:
        try:
            event_invitation(0, data.data)
        except ValueError as exc:
            raise ValidationFailed({"data": str(exc)}) from None
    if data.kind == CampaignKind.RENEWAL and purpose.is_advertising:
        raise ValidationFailed({"purpose_key": "a renewal notice must use a service purpose"})
    if data.ab_test is not None:
        assert template is not None
        ab_tests.check_subjects(template.sources(), purpose.key, data.ab_test)
    return purpose


def get_campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id}")
    return campaign


def schedule(
    campaign_id: int, send_at: datetime | None = None, local_wall: datetime | None = None
) -> Campaign:
    """Now, or at a time with a zone; or at `local_wall`, a wall-clock time without a zone read
    in each recipient's own zone (docs/send-time.md). The scheduler starts it when due."""
    campaign = get_campaign(campaign_id)
    _require(campaign, CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
    if send_at is not None and send_at.tzinfo is None:
        raise ValidationFailed({"send_at": "needs a time zone offset"})
    if local_wall is not None:
        if campaign.ab_test is not None:
            # The wait is counted from one moment, the sample's; a sample spread over a day of
            # time zones would have its first zones judged and its last ones not yet sent.
            raise ValidationFailed({"send_at": "an A/B test is sent at one moment for everyone"})
        if local_wall.tzinfo is not None or send_at is not None:
            raise ValidationFailed({"send_at": "a local time is a wall-clock time, no offset"})
        if latest_moment(local_wall) < utcnow() - timedelta(minutes=1):
            raise ValidationFailed({"send_at": "is in the past in every time zone"})
        # It starts when the time first comes anywhere; each row then waits for its own zone.
        send_at = earliest_moment(local_wall.replace(second=0, microsecond=0))
    campaign.local_send_at = (
        local_wall.replace(second=0, microsecond=0) if local_wall is not None else None
    )
    purpose = profile().purpose(campaign.purpose_key)
    preflight.check(campaign, audience_query(purpose, campaign.audience or {}, utcnow().date()))
    # In UTC as stored: the caller shows the campaign before the entry point commits it.
    campaign.send_at = send_at.astimezone(UTC) if send_at else campaign.send_at or utcnow()
    campaign.status = CampaignStatus.SCHEDULED
    # What staff confirm is what goes out: later edits of the template make a new version,
    # which this campaign does not send (the ledger names the version it did).
    campaign.template_version = get_template(campaign.template_id).version
    db.session.flush()
    if campaign.send_at <= utcnow():
        start_due_campaigns(utcnow())
    return campaign


def pause(campaign_id: int, reason: str = "paused by staff") -> Campaign:
    campaign = get_campaign(campaign_id)
    _require(campaign, CampaignStatus.SENDING, CampaignStatus.SCHEDULED)
    campaign.status, campaign.status_reason = CampaignStatus.PAUSED, reason
    db.session.flush()
    return campaign


def resume(campaign_id: int) -> Campaign:
    campaign = get_campaign(campaign_id)
    _require(campaign, CampaignStatus.PAUSED)
    campaign.status, campaign.status_reason = CampaignStatus.SENDING, ""
    if campaign.planned_at is None:
        _enqueue_plan(campaign.id)
    else:
        _enqueue_senders(campaign.id, 1)
    db.session.flush()
    return campaign


def cancel(campaign_id: int) -> Campaign:
    """Rows not yet sent are skipped with a reason, so the report still accounts for everyone."""
    campaign = get_campaign(campaign_id)
    _require(campaign, CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.SENDING,
             CampaignStatus.PAUSED)  # fmt: skip
    campaign.status, campaign.finished_at = CampaignStatus.CANCELLED, utcnow()
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id == campaign.id,
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.DEFERRED]),
        )
        .values(status=DeliveryStatus.SKIPPED, reason="campaign_cancelled"),
        execution_options={"synchronize_session": False},
    )
    db.session.flush()
    return campaign


def _require(campaign: Campaign, *allowed: CampaignStatus) -> None:
    if campaign.status not in allowed:
        raise Conflict(f"campaign {campaign.id} is {campaign.status}")


def start_due_campaigns(now: datetime) -> int:
    due = list(
        db.session.scalars(
            select(Campaign).where(
                Campaign.status == CampaignStatus.SCHEDULED, Campaign.send_at <= now
            )
        )
    )
    for campaign in due:
        campaign.status = CampaignStatus.SENDING
        _enqueue_plan(campaign.id)
    db.session.flush()
    return len(due)


# Contact ids planned a step: each step is committed and its senders enqueued at once, so the
# first messages leave while the rest of a large audience is still being planned.
PLAN_STEP = 20_000


def plan(campaign_id: int) -> int:
    """Snapshot the audience into the ledger with one INSERT ... SELECT per range of contact
    ids; safe to run twice, and after a crash half-way (planned rows are kept as they are).
    Stops when the campaign is paused or cancelled meanwhile."""
    # Alive while it runs (the worker's heartbeat), so the scheduler enqueues no second plan: one
    # took the other worker to plan the same ranges again, and nothing was sent until both
    # ended (bench/relays.py: 100,000 rows, 16 s to the first message). A dead one's lapses.
    liveness.announce(_planning(campaign_id))
    try:
        return _plan(campaign_id)
    finally:
        liveness.forget(_planning(campaign_id))


def _planning(campaign_id: int) -> str:
    return f"plan:{campaign_id}"


def _enqueue_plan(campaign_id: int) -> None:
    """The plan job, alive from now until its worker's heartbeat takes over: between the job
    leaving the queue and its first beat a scheduler round saw neither, and enqueued a second
    plan (bench/relays.py: both workers planned 100,000 rows, nothing sent for 9 s)."""
    enqueue_after_commit(db.session(), CAMPAIGNS, PLAN_JOB, campaign_id)
    liveness.expect(_planning(campaign_id))


def _being_planned(campaign_id: int) -> bool:
    return bool(redis_connection().exists(liveness.alive_key(_planning(campaign_id))))


def _plan(campaign_id: int) -> int:
    campaign = get_campaign(campaign_id)
    if campaign.status != CampaignStatus.SENDING:
        return 0
    purpose = profile().purpose(campaign.purpose_key)
    audience = audience_query(purpose, campaign.audience, utcnow().date())
    low, high = db.session.execute(select(func.min(Contact.id), func.max(Contact.id))).one()
    # An A/B test holds every row for its sample's draw (campaigns/ab_tests.py); its rows meet
    # the quiet hours at their claim.
    held = campaign.ab_test is not None
    timed = not held and send_time.timed(campaign, purpose)
    zones = send_time.zones_in_use() if timed else None
    enqueued = False
    for start in range(low or 0, (high or -1) + 1, PLAN_STEP):
        if not _still_sending(campaign_id):
            return 0
        rows = audience.where(Contact.id >= start, Contact.id < start + PLAN_STEP)
        columns = ["campaign_id", "contact_id", "attempts", "status"]
        values = [literal(campaign_id), Contact.id, literal(0)]
        if held:
            columns.append("reason")
            values += ab_tests.planned_columns()
        elif zones is None:
            values.append(literal(DeliveryStatus.PENDING.value))
        else:  # each row's moment in its recipient's zone (campaigns/send_time.py)
            columns += ["next_attempt_at", "reason"]
            values += send_time.planned_columns(campaign, purpose, zones, utcnow())
        insert = _insert_ignoring_duplicates().from_select(columns, rows.with_only_columns(*values))
        # rowcount is -1 for this statement on PostgreSQL: the new rows are counted instead.
        planned = len(db.session.execute(insert.returning(Delivery.id)).all())
        if planned and not held:
            _enqueue_senders(campaign_id, math.ceil(planned / _batch_size()))
            enqueued = True
        # These rows can be claimed and sent while the next range is planned.
        checkpoint()
    if not _still_sending(campaign_id):
        return 0
    campaign = get_campaign(campaign_id)
    campaign.planned_at = utcnow()
    ab_tests.draw_sample(campaign, campaign.planned_at)
    total = _count_open(campaign_id)
    if total and not enqueued:  # planned before a crash: its rows still need senders
        _enqueue_senders(campaign_id, math.ceil(total / _batch_size()))
    db.session.flush()
    # Senders that ran out of rows before this point could not finish the campaign.
    finish_if_done(campaign_id)
    return total


def _still_sending(campaign_id: int) -> bool:
    """Lock the campaign row for this step: a pause or cancel waits for the step's rows to be
    committed (so cancelling skips them too) and the next step then sees it."""
    status = db.session.scalar(
        select(Campaign.status).where(Campaign.id == campaign_id).with_for_update()
    )
    return status == CampaignStatus.SENDING


def _insert_ignoring_duplicates() -> Any:
    table = Delivery.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def audience_query(purpose: Purpose, filters: dict[str, Any], today: date) -> Any:
    """Everyone the purpose may reach, narrowed by the campaign's filters (set-based)."""
    return _narrow(eligible_contacts(rule_for(purpose), today), filters, today)


def _narrow(query: Any, filters: dict[str, Any], today: date) -> Any:
    for tag in filters.get("tags") or []:
        query = query.where(
            exists().where(ContactTag.contact_id == Contact.id, ContactTag.tag == str(tag))
        )
    if filters.get("locale"):
        query = query.where(Contact.locale == str(filters["locale"]))
    for name, value in (filters.get("attributes") or {}).items():
        query = query.where(Contact.attributes[str(name)].as_string() == str(value))
    if filters.get("contact_ids"):
        query = query.where(Contact.id.in_([int(i) for i in filters["contact_ids"]]))
    if filters.get(WINDOW_KEY):
        # Contacts with a subscription expiring in the window; the claim picks which one and
        # checks again at send time (a renewal paid meanwhile skips the person).
        last = today + timedelta(days=int(filters[WINDOW_KEY]))
        query = query.where(
            exists().where(
                Subscription.contact_id == Contact.id,
                Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.expires_on.between(today, last),
            )
        )
    if filters.get("segment") is not None:
        # Read at planning time: a saved segment is dynamic, and it only narrows.
        query = query.where(saved_clause(filters["segment"]))
    return query


def count_audience(purpose_key: str, filters: dict[str, Any]) -> int:
    purpose = purpose_or_error(purpose_key)
    query = audience_query(purpose, filters, utcnow().date())
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def run_send_job(
    campaign_id: int,
    should_stop: Callable[[], bool] = lambda: False,
    serve_notices: bool = False,
) -> int:
    """Claim and send batches until none is left, time is up or the campaign stops.

    serve_notices: this worker serves the notices queue too, so notices queued meanwhile are
    sent between two campaign messages (see NoticeDesk) instead of after the job.
    """
    started, sent, next_check = time.monotonic(), 0, 0.0
    tally: Counter[str] = Counter()  # this job's outcomes
    desk = NoticeDesk() if serve_notices else None
    while not should_stop():
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is None or campaign.status != CampaignStatus.SENDING:
            break
        purpose = profile().purpose(campaign.purpose_key)
        data = dict(campaign.data or {})
        composer = campaign_composer(campaign)
        # The send path's boundary: end the reading transaction before the claim, which
        # commits on its own (notifier/delivery/claims.py) and must see the newest rows.
        checkpoint()
        now = utcnow()
        window = window_of(campaign.audience, campaign.time_zone, now)
        quiet = send_time.claim_quiet(purpose)
        claim = claim_batch(campaign_id, purpose, _batch_size(), now, window, quiet)
        if not claim.sendable and not claim.skipped and not claim.deferred:
            if _retries_due_soon(campaign_id, started, should_stop, desk):
                continue
            break
        outcomes = send_claim(
            claim,
            composer,
            data,
            advertising=purpose.is_advertising,
            should_stop=should_stop,
            interlude=desk,
            purpose=purpose.key,
        )
        sent += outcomes.counts.get(DeliveryStatus.SENT, 0)
        tally.update(outcomes.counts)
        if outcomes.redis_down:
            # Redis does not answer (down, or stalled: each call times out): the next claim
            # would cost a timeout at each Redis call and be given back, again and again. The
            # job ends, holding no claim; the scheduler re-enqueues the released rows once
            # Redis takes jobs again. (A journal whose connection was reset mid-batch goes on
            # with the next batch's fresh one.)
            break
        if _pause_on_failures(campaign_id, tally):
            break
        # Bounce and complaint rates count the campaign's whole ledger: after a job's first
        # batch, then every RATE_CHECK_SECONDS (after every batch, that cost would grow with
        # the square of the campaign's size; the reports come in minutes later anyway).
        if time.monotonic() >= next_check:
            if pause_on_rates(campaign_id):
                break
            next_check = time.monotonic() + RATE_CHECK_SECONDS
        if time.monotonic() - started > JOB_SECONDS:
            return _hand_over(campaign_id, sent)
    finish_if_done(campaign_id)
    return sent


def _retries_due_soon(
    campaign_id: int, started: float, should_stop: Callable[[], bool], desk: NoticeDesk | None
) -> bool:
    """Wait for the campaign's next retry when it is due within seconds (a 4xx's first wait),
    serving notices meanwhile: retries then cost their wait, not the scheduler's next round."""
    due = db.session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.DEFERRED
        )
    )
    checkpoint()  # end the reading transaction: the wait must not hold a snapshot open
    if due is None:
        return False
    wait = max((due - utcnow()).total_seconds(), 0.0)
    if wait > RETRY_WAIT_SECONDS or time.monotonic() - started + wait > JOB_SECONDS:
        return False  # the cap's deferrals, or a domain backing off: the scheduler's work
    until = time.monotonic() + max(wait, 0.05)  # never a busy loop on a row being claimed
    while time.monotonic() < until:
        if should_stop():
            return False
        try:
            if desk is not None and desk.waiting():
                desk.serve()
        except REDIS_FAULTS:  # the notices wait for Redis and their own queue
            desk = None
        time.sleep(min(0.05, max(until - time.monotonic(), 0.0)))
    return True


def _hand_over(campaign_id: int, sent: int) -> int:
    """Queue a fresh send job and end this one, so that other campaigns get their turn."""
    _enqueue_senders(campaign_id, 1)
    db.session.flush()
    return sent


def campaign_composer(campaign: Campaign) -> Composer:
    """The composer of the campaign's scheduled template version: its send jobs and its web
    view (campaigns/web_view.py) render with this one."""
    version, sources = _scheduled_version(campaign)
    return cached_composer(
        campaign.template_id, version, sources, campaign.purpose_key, _attachments(campaign),
        ab_tests.subjects(campaign),
    )  # fmt: skip


def campaign_sources(campaign: Campaign) -> Variants:
    """The template sources of the campaign's scheduled version, per locale."""
    return _scheduled_version(campaign)[1]


def _attachments(campaign: Campaign) -> tuple[Attachment, ...]:
    if campaign.kind != CampaignKind.EVENT:
        return ()
    return event_invitation(campaign.id, dict(campaign.data or {}))


def _pause_on_failures(campaign_id: int, counts: Counter[str]) -> bool:
    """Stop a campaign whose relay rejects too much of this job's mail, and say why (a human
    should look). The job's own tally: each worker talks to the same relay, and counting the
    campaign's ledger after every batch would cost more the further the campaign got."""
    attempted = counts.get(DeliveryStatus.SENT, 0) + counts.get(DeliveryStatus.FAILED, 0)
    failed = counts.get(DeliveryStatus.FAILED, 0)
    threshold = settings().FAILURE_RATE_PAUSE
    if attempted < 50 or failed / attempted <= threshold:
        return False
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
        .values(
            status=CampaignStatus.PAUSED,
            status_reason=f"paused: {failed} of {attempted} messages failed "
            f"({failed / attempted:.0%} > {threshold:.0%})",
        )
    )
    db.session.flush()
    return True


def finish_if_done(campaign_id: int) -> bool:
    """Done when nothing is open, and only once planned: a sender that ran out of rows while
    later ranges are still being planned must not end the campaign."""
    if _count_open(campaign_id):
        return False
    result = db.session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == CampaignStatus.SENDING,
            Campaign.planned_at.is_not(None),
        )
        .values(status=CampaignStatus.DONE, finished_at=utcnow())
    )
    db.session.flush()
    finished = bool(result.rowcount)  # type: ignore[attr-defined]
    if finished:  # once: only the update that moved it from SENDING gets here
        webhooks.capture(
            "campaign.finished",
            {"campaign_id": campaign_id, "status": str(CampaignStatus.DONE),
             "counts": counters(campaign_id)},
        )  # fmt: skip
    return finished


def counters(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    return {str(status): int(count) for status, count in rows}


def reasons(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.reason, func.count())
        .where(Delivery.campaign_id == campaign_id, Delivery.reason.is_not(None))
        .group_by(Delivery.reason)
    )
    return {str(reason): int(count) for reason, count in rows}


def _count_open(campaign_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count()).where(
                Delivery.campaign_id == campaign_id, Delivery.status.in_(OPEN)
            )
        )
        or 0
    )


def _batch_size() -> int:
    return settings().BATCH_SIZE


def _enqueue_senders(campaign_id: int, wanted: int) -> None:
    jobs = max(1, min(wanted, settings().SEND_JOBS))
    for _ in range(jobs):
        enqueue_after_commit(db.session(), SEND, SEND_JOB, campaign_id)


def reconcile(now: datetime) -> None:
    """The database is the truth: re-enqueue open work (dead workers' claims were settled
    just before, by delivery.recovery)."""
    sending = list(
        db.session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.SENDING))
    )
    busy = bool(queue(SEND).count or queue(CAMPAIGNS).count)
    for campaign in sending:
        if campaign.planned_at is None:
            if not busy and not _being_planned(campaign.id):
                _enqueue_plan(campaign.id)
            continue
        claimable = db.session.scalar(
            select(func.count()).where(
                Delivery.campaign_id == campaign.id,
                or_(
                    Delivery.status == DeliveryStatus.PENDING,
                    and_(
                        Delivery.status == DeliveryStatus.DEFERRED,
                        Delivery.next_attempt_at <= now,
                    ),
                ),
            )
        )
        if claimable and not busy:
            _enqueue_senders(campaign.id, math.ceil(claimable / _batch_size()))
        elif not claimable:
            # A fresh snapshot (SQLite keeps a read transaction's first view) before counting
            # what is still open; the claims settled above stand either way.
            checkpoint()
            finish_if_done(campaign.id)


TEST_MARKER = "(thử nghiệm/test)"


def preview(
    variants: Variants,
    purpose_key: str,
    data: dict[str, Any],
    recipient: Recipient,
    message_key: str = "preview",
) -> bytes:
    """The message exactly as the pipeline's composer builds it, in the variant the recipient's
    locale chooses; raises TemplateError."""
    purpose_or_error(purpose_key)
    composer = build_composer(variants, purpose_key)
    return composer.compose(recipient, data, message_key)


def _test_subject(subject: str, advertising: bool, label: str) -> str:
    # Decree 91/2020 Art 18: the label stays first, so the marker goes right after it.
    rest = subject.lstrip()
    if rest[: len(label)].casefold() == label.casefold():
        rest = rest[len(label) :].lstrip()
    return f"{label} {TEST_MARKER} {rest}" if advertising else f"{TEST_MARKER} {rest}"


def locales_to_test(campaign_id: int, staff_locale: str = DEFAULT_LOCALE) -> list[str]:
    """The variants a test send should show: each one the audience reads, and the one of the
    staff member's own language, Vietnamese first."""
    campaign = get_campaign(campaign_id)
    variants = dict(_scheduled_version(campaign)[1])
    query = audience_query(
        purpose_or_error(campaign.purpose_key), campaign.audience or {}, utcnow().date()
    )
    spoken = set(db.session.scalars(query.with_only_columns(Contact.locale).distinct()))
    wanted = {variant_locale(locale, variants) for locale in {*spoken, staff_locale}}
    return [locale for locale in LOCALES if locale in wanted]


def subject_variants_to_test(campaign_id: int) -> list[int | None]:
    """The A/B test's variants, one test copy each (1, 2, ...); [None] without a test."""
    count = len(ab_tests.subjects(get_campaign(campaign_id)))
    return list(range(1, count + 1)) if count else [None]


def send_test(
    campaign_id: int,
    to_address: str,
    name: str = "",
    locale: str = "vi",
    variant: int | None = None,
) -> SendResult:
    """One copy to a staff member through the real composer and relay; no contact, no ledger.
    `variant`: the A/B test's subject number this copy carries (None: the template's)."""
    campaign = get_campaign(campaign_id)
    versions = _scheduled_version(campaign)[1]
    if variant is not None:
        subjects = ab_tests.subjects(campaign)
        if not 1 <= variant <= len(subjects):
            raise NotFound(f"subject variant {variant} of campaign {campaign_id}")
        versions = with_subject(versions, subjects[variant - 1])
    try:
        address = normalise_email(to_address)
    except InvalidAddress as exc:
        raise ValidationFailed({"to": str(exc)}) from None
    # A test copy carries no consent check, so it may only go to a staff mailbox.
    staff = db.session.scalar(select(StaffUser).where(StaffUser.email == address))
    if staff is None or not staff.active:
        raise ValidationFailed({"to": "test copies go to staff accounts only"})
    active = profile()
    purpose = active.purpose(campaign.purpose_key)
    recipient = Recipient(0, address, name, locale if locale in LOCALES else DEFAULT_LOCALE, {})
    # Every variant is marked: the copy goes out in the variant the chosen locale picks.
    label = active.advertising_label
    marked = tuple(
        (code, replace(v, subject=_test_subject(v.subject, purpose.is_advertising, label)))
        for code, v in versions
    )
    message = preview(
        marked, purpose.key, dict(campaign.data or {}), recipient,
        message_key=f"test-{campaign.id}-{secrets.token_hex(6)}",
    )  # fmt: skip
    try:
        return transport().send(envelope_sender(), address, message)
    except TransportError as exc:
        raise Conflict(f"the relay could not be reached: {exc}") from None
