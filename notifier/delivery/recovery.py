"""The one place that settles claims whose worker is gone: campaign batches, notices, system mail.

A claim is settled when its lease expired (CLAIM_LEASE_SECONDS without a renewal) or, within
seconds, when its worker's heartbeat is gone (`liveness.dead_claims`). Either way it is fenced
first: its rows move to a new token (one-row mail: back to QUEUED with no token), so the old
worker's conditional writes miss them from then on, in the transaction that settles them.

Campaign rows are settled from the claim's journal: rows it names get their outcome, the next
row (the one that may have been on the wire) becomes UNKNOWN (advertising) or is sent again
(service mail), the rest go back to PENDING to be claimed and checked again. Notices and system
mail are queued again (service mail may be sent twice rather than never); a notice its batch's
journal names as sent keeps its Message-ID, and the next batch records it without sending it.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update

from notifier.delivery import liveness
from notifier.delivery.sending import BACK_FROM_NOTICES, LENT_TO_NOTICES, journal_key, lease
from notifier.infra.bulk import update_by_id
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.queues import redis_connection
from notifier.infra.redis_conn import REDIS_FAULTS
from notifier.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    SendLog,
    SystemMail,
    SystemMailStatus,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OneRowKind:
    model: Any
    sending: StrEnum
    queued: StrEnum


# (claim token, its last claim or renewal, its kind: None for a campaign batch)
Candidate = tuple[str, datetime, OneRowKind | None]
ONE_ROW_KINDS = (
    OneRowKind(Notice, NoticeStatus.SENDING, NoticeStatus.QUEUED),
    OneRowKind(SystemMail, SystemMailStatus.SENDING, SystemMailStatus.QUEUED),
)


def recover_claims(now: datetime) -> int:
    """Settle every claim of a dead or stale worker; returns how many rows were settled."""
    grace = timedelta(seconds=liveness.grace())
    older_than = now - min(grace, lease())
    candidates: list[Candidate] = _campaign_claims(older_than)
    for one_row in ONE_ROW_KINDS:
        candidates += _one_row_claims(one_row, older_than)
    dead = liveness.dead_claims(redis_connection(), [token for token, _, _ in candidates if token])
    settled = 0
    for token, last_renewed, kind in candidates:
        if last_renewed < now - lease():
            cutoff = now - lease()  # stale: whatever its heartbeat says
        elif token in dead:
            cutoff = now - grace  # dead: unless it renews meanwhile
        else:
            continue
        if kind is None:
            settled += _settle_batch(token, cutoff)
        else:
            settled += _requeue(kind, token, cutoff)
    return settled


def _campaign_claims(older_than: datetime) -> list[Candidate]:
    rows = db.session.execute(
        select(Delivery.claim_token, func.max(Delivery.claimed_at))
        .where(Delivery.status == DeliveryStatus.CLAIMED)
        .group_by(Delivery.claim_token)
        .having(func.max(Delivery.claimed_at) < older_than)
    ).all()
    return [(token or "", renewed, None) for token, renewed in rows if renewed is not None]


def _one_row_claims(kind: OneRowKind, older_than: datetime) -> list[Candidate]:
    model = kind.model
    # A batch of notices shares one token: one candidate per claim, as for campaign batches.
    rows = db.session.execute(
        select(model.claim_token, func.max(model.claimed_at))
        .where(model.status == kind.sending)
        .group_by(model.claim_token)
        .having(func.max(model.claimed_at) < older_than)
    ).all()
    return [(token or "", at, kind) for token, at in rows if at is not None]


def _owned_by(column: Any, token: str) -> Any:
    return column == token if token else column.is_(None)  # rows claimed before tokens existed


def _requeue(kind: OneRowKind, token: str, cutoff: datetime) -> int:
    """Fencing and settling are one statement here: the row leaves SENDING and its token at once.

    A batch of notices journals each message that went out (notifier/notices/batch.py): those
    rows are queued again with their Message-ID, so the next batch records them as sent instead
    of sending them again. A journal that cannot be read leaves the claim to a later round."""
    model = kind.model
    went_out: dict[int, str] = {}
    if model is Notice and token:
        try:
            raw = redis_connection().lrange(journal_key(token), 0, -1)
        except REDIS_FAULTS as exc:
            log.warning("journal of claim %s unreadable, settled later: %r", token, exc)
            return 0
        went_out = _sent_in(raw)
    taken = _take(model, token, kind.sending, cutoff, {"status": kind.queued, "claim_token": None})
    gone = [
        {"id": row_id, "message_id": went_out[row_id]} for row_id in taken if row_id in went_out
    ]
    if gone:
        update_by_id(model, gone)
    db.session.commit()
    if went_out:
        with contextlib.suppress(*REDIS_FAULTS):  # it expires on its own
            redis_connection().delete(journal_key(token))
    if taken:
        log.warning("recovered %s claim %s: queued again", model.__tablename__, token)
    return len(taken)


def _sent_in(raw: list[Any]) -> dict[int, str]:
    """The rows a notice batch's journal names as sent, and their Message-ID."""
    went_out: dict[int, str] = {}
    for entry in raw:
        text = entry.decode() if isinstance(entry, bytes) else str(entry)
        key, status, _, message_id = text.split("|", 3)
        if status == NoticeStatus.SENT and message_id:
            went_out[int(key)] = message_id
    return went_out


def _take(model: Any, token: str, claimed: StrEnum, cutoff: datetime, values: dict) -> list[int]:
    """The fence: the rows still claimed under `token` and not renewed since `cutoff` get
    `values` in one statement (a renewal meanwhile keeps them from it)."""
    owned = _owned_by(model.claim_token, token)
    taken = db.session.scalars(
        update(model)
        .where(owned, model.status == claimed, model.claimed_at < cutoff)
        .values(**values)
        .returning(model.id),
        execution_options={"synchronize_session": False},
    )
    return list(taken)


def _settle_batch(token: str, cutoff: datetime) -> int:
    """One transaction: fence the rows still under `token` and not renewed since `cutoff` (the
    conditional UPDATE locks them: the old worker's conditional writes and renewals wait for
    this transaction, then miss them), read the claim's journal, settle, commit. A crash or a
    kill anywhere before the commit leaves the claim as it was, to be settled again from the
    same journal (fencing in a commit of its own first lost the journal's name that way)."""
    rows = _take(
        Delivery, token, DeliveryStatus.CLAIMED, cutoff, {"claim_token": str(uuid.uuid4())}
    )
    if not rows:
        db.session.rollback()
        return 0  # renewed meanwhile: the worker is alive
    try:
        raw = redis_connection().lrange(journal_key(token), 0, -1) if token else []
    except REDIS_FAULTS as exc:
        # Settling without the journal would resend what it names: next round.
        db.session.rollback()
        log.warning("journal of claim %s unreadable, settled later: %r", token, exc)
        return 0
    entries = [e.decode() if isinstance(e, bytes) else str(e) for e in raw]
    campaigns: dict[int, int] = {
        row_id: campaign_id
        for row_id, campaign_id in db.session.execute(
            select(Delivery.id, Delivery.campaign_id).where(Delivery.id.in_(rows))
        )
    }
    advertising = _advertising_campaigns(set(campaigns.values()))
    changes = _settle([(row, campaigns[row]) for row in sorted(rows)], entries, advertising)
    _with_consent_events(changes)
    update_by_id(Delivery, changes)
    kept = (DeliveryStatus.SENT, DeliveryStatus.UNKNOWN)
    freed = [c["id"] for c in changes if c["status"] not in kept]
    if freed:
        db.session.execute(delete(SendLog).where(SendLog.delivery_id.in_(freed)))
    db.session.commit()
    with contextlib.suppress(*REDIS_FAULTS):  # it expires on its own
        redis_connection().delete(journal_key(token))
    log.warning("recovered claim %s: %d rows", token, len(rows))
    return len(rows)


def _advertising_campaigns(campaign_ids: set[int]) -> set[int]:
    """A campaign that no longer exists counts as advertising: never resend on a doubt."""
    purposes = dict(
        db.session.execute(
            select(Campaign.id, Campaign.purpose_key).where(Campaign.id.in_(campaign_ids))
        ).all()
    )
    active = profile()
    return {
        campaign_id
        for campaign_id in campaign_ids
        if campaign_id not in purposes or active.purpose(purposes[campaign_id]).is_advertising
    }


def _with_consent_events(changes: list[dict]) -> None:
    """Rows that went out, or may have, get the consent event their reservation holds."""
    went = [c["id"] for c in changes if c["status"] != DeliveryStatus.PENDING or c.get("reason")]
    if not went:
        return
    events = dict(
        db.session.execute(
            select(SendLog.delivery_id, SendLog.consent_event_id).where(
                SendLog.delivery_id.in_(went)
            )
        ).all()
    )
    for change in changes:
        if change["id"] in events:
            change["consent_event_id"] = events[change["id"]]


def _settle(rows: list[tuple[int, int]], entries: list[str], advertising: set[int]) -> list[dict]:
    recorded: dict[int, dict] = {}
    lent = False  # the worker died while its connection served notices: no row was on the wire
    for entry in entries:
        if entry in (LENT_TO_NOTICES, BACK_FROM_NOTICES):
            lent = entry == LENT_TO_NOTICES
            continue
        lent = False
        key, status, code, message_id = entry.split("|", 3)
        recorded[int(key)] = {
            "status": status,
            "smtp_code": int(code) if code else None,
            "message_id": message_id or None,
        }
    changes: list[dict] = []
    in_flight_marked = lent
    for delivery_id, campaign_id in rows:
        change: dict = {"id": delivery_id, "claim_token": None}
        if delivery_id in recorded:
            change.update(recorded[delivery_id])
            status = change["status"]
            if status == DeliveryStatus.SENT:
                change["sent_at"] = utcnow()
            elif status == DeliveryStatus.DEFERRED:
                change["next_attempt_at"] = utcnow()
        elif not in_flight_marked:
            # The first unrecorded row may have been on the wire when the worker died.
            in_flight_marked = True
            if campaign_id in advertising:
                change.update(status=DeliveryStatus.UNKNOWN, reason="worker_died_in_flight")
            else:
                change.update(status=DeliveryStatus.PENDING, reason="resend_after_unknown")
        else:
            change.update(status=DeliveryStatus.PENDING, claimed_at=None)
        changes.append(change)
    return changes
