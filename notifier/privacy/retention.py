"""The retention purge: the profile's rule, due erasure requests, the 365-day consent records."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select, update

from notifier.domain.profile import Retention, RetentionRule
from notifier.infra.context import profile, settings
from notifier.infra.extensions import db
from notifier.infra.queues import redis_connection
from notifier.models import (
    BounceScore,
    ConsentEvent,
    ConsentState,
    Contact,
    Delivery,
    Notice,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Suppression,
    SystemMail,
    SystemMailStatus,
    utcnow,
)
from notifier.operations import audit
from notifier.privacy import requests as privacy
from notifier.privacy import retention_notices as notices

log = logging.getLogger(__name__)
LOCK_KEY = "notifier:retention:last-run"
BATCH = 500  # erasures per run: a backlog drains over a few runs instead of one long one
LEGAL_MIN_DAYS = 365  # Decree 91/2020 Art 11(7): sign-ups, refusals, confirmations
FINAL_MAILS = (SystemMailStatus.SENT, SystemMailStatus.FAILED, SystemMailStatus.CANCELLED)
OPEN_REQUESTS = (PrivacyRequestStatus.RECEIVED, PrivacyRequestStatus.ACKNOWLEDGED)
SCORE_HALF_LIVES_KEPT = 10  # after ten half-lives a soft-bounce score is below 0.1 %


def scheduled_purge(now: datetime) -> dict[str, int] | None:
    """The scheduler ticks every few seconds: run at most once per interval, on one machine."""
    interval = settings().RETENTION_INTERVAL_SECONDS
    if not redis_connection().set(LOCK_KEY, now.isoformat(), nx=True, ex=max(1, interval)):
        return None
    return purge(now)


def purge(now: datetime) -> dict[str, int]:
    """Apply the rules as of `now`; every count goes to the log line and the audit log."""
    retention = profile().retention
    counts: dict[str, int] = {
        "contracts_ended_erased": 0,
        "erasure_requests_completed": _erase_due_requests(now),
    }
    if retention.rule is RetentionRule.CONTRACT_END:
        counts["contracts_ended_erased"] = _erase_ended_contracts(now, retention)
    keep_days = max(LEGAL_MIN_DAYS, retention.records_min_days)
    # Never ahead of the database's clock: its ledger trigger would refuse the whole purge.
    keep_from = min(now, utcnow()) - timedelta(days=keep_days)
    counts |= _minimise_records(keep_from)
    counts |= _anonymise_mail()
    counts["bounce_scores_expired"] = _expire_scores(now)
    counts["suppressions_kept"] = _count(select(func.count()).select_from(Suppression))
    counts["consent_events_kept"] = _count(select(func.count()).select_from(ConsentEvent))
    audit.record("system", "retention.purge", "retention", retention.rule.value,
                 {"now": now.isoformat(), "keep_days": keep_days, **counts})  # fmt: skip
    db.session.flush()
    log.info("retention purge: %s", " ".join(f"{k}={v}" for k, v in counts.items()),
             extra={"counts": counts})  # fmt: skip
    return counts


def _erase_due_requests(now: datetime) -> int:
    """Staff may still reject a request; one left open past its deadline is carried out."""
    due = list(
        db.session.scalars(
            select(PrivacyRequest.id)
            .where(
                PrivacyRequest.kind == PrivacyRequestKind.ERASURE,
                PrivacyRequest.status.in_(OPEN_REQUESTS),
                PrivacyRequest.complete_by <= now,
            )
            .order_by(PrivacyRequest.id)
            .limit(BATCH)
        )
    )
    for request_id in due:
        privacy.erase(request_id, None)
    return len(due)


def _erase_ended_contracts(now: datetime, retention: Retention) -> int:
    """DCNET: kept until every contract has ended, then erased like an erasure request; once
    the customer has been told, when the profile says so (privacy/retention_notices.py)."""
    today = now.astimezone(ZoneInfo(profile().default_time_zone)).date()
    query = select(Contact.id, Contact.contract_ends_on).where(
        Contact.erased_at.is_(None),
        Contact.contract_ends_on < today - timedelta(days=retention.grace_days),
    )
    if notices.enabled(retention):
        query = query.where(notices.purge_may_erase(now))
    ended = list(db.session.execute(query.order_by(Contact.id).limit(BATCH)))
    for contact_id, contract_ends_on in ended:
        # A request of its own documents each erasure the way a person's request would.
        request = PrivacyRequest(
            contact_id=contact_id,
            kind=PrivacyRequestKind.ERASURE,
            status=PrivacyRequestStatus.RECEIVED,
            received_at=now,
            acknowledge_by=now,
            complete_by=now,
            details={},
            outcome="",
        )
        db.session.add(request)
        db.session.flush()
        privacy.erase(request.id, None)
        details = {"basis": "retention", "rule": RetentionRule.CONTRACT_END.value}
        if notices.enabled(retention):  # told (mailed), missed, skipped, or "none": ended long ago
            details["notice"] = notices.notice_status(contact_id, contract_ends_on)
        request.details = details
        db.session.flush()
    return len(ended)


def _minimise_records(keep_from: datetime) -> dict[str, int]:
    """Erased people's consent records: kept a year without IP or user agent, then deleted."""
    erased = select(Contact.id).where(Contact.erased_at.is_not(None)).scalar_subquery()
    minimised = _rows(
        update(ConsentEvent)
        .where(
            ConsentEvent.contact_id.in_(erased),
            or_(ConsentEvent.ip.is_not(None), ConsentEvent.user_agent.is_not(None)),
        )
        .values(ip=None, user_agent=None)
    )
    old = (
        select(ConsentEvent.id)
        .where(ConsentEvent.contact_id.in_(erased), ConsentEvent.recorded_at < keep_from)
        .scalar_subquery()
    )
    # What still points at an old event lets go of it first (foreign keys).
    _rows(delete(ConsentState).where(ConsentState.event_id.in_(old)))
    _rows(update(Delivery).where(Delivery.consent_event_id.in_(old)).values(consent_event_id=None))
    _rows(update(Notice).where(Notice.consent_event_id.in_(old)).values(consent_event_id=None))
    deleted = _rows(
        delete(ConsentEvent).where(
            ConsentEvent.contact_id.in_(erased), ConsentEvent.recorded_at < keep_from
        )
    )
    mails = _rows(
        delete(SystemMail).where(
            SystemMail.contact_id.in_(erased),
            SystemMail.created_at < keep_from,
            SystemMail.status.in_(FINAL_MAILS),
        )
    )
    kept_mails = _count(
        select(func.count()).where(SystemMail.contact_id.in_(erased)).select_from(SystemMail)
    )
    return {
        "consent_events_minimised": minimised,
        "consent_events_deleted": deleted,
        "confirmations_deleted": mails,
        "confirmations_kept": kept_mails,
    }


def _anonymise_mail() -> dict[str, int]:
    """The ledger keeps the outcome for campaign reports; the server's words may name the person."""
    erased = select(Contact.id).where(Contact.erased_at.is_not(None)).scalar_subquery()
    deliveries = _rows(
        update(Delivery)
        .where(
            Delivery.contact_id.in_(erased),
            or_(Delivery.smtp_message.is_not(None), Delivery.message_id.is_not(None)),
        )
        .values(smtp_message=None, message_id=None)
    )
    notices = _rows(
        update(Notice)
        .where(
            Notice.contact_id.in_(erased),
            or_(Notice.smtp_message.is_not(None), Notice.message_id.is_not(None)),
        )
        .values(smtp_message=None, message_id=None, data={})
    )
    return {"deliveries_anonymised": deliveries, "notices_anonymised": notices}


def _expire_scores(now: datetime) -> int:
    half_life = settings().SOFT_BOUNCE_HALF_LIFE_DAYS
    cutoff = now - timedelta(days=half_life * SCORE_HALF_LIVES_KEPT)
    return _rows(delete(BounceScore).where(BounceScore.updated_at < cutoff))


def _rows(statement: Any) -> int:
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _count(statement: Any) -> int:
    return int(db.session.scalar(statement) or 0)
