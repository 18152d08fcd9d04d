"""One message to one address: the path notices and system mail take through the pipeline.

Each such message is a row of its own (a notice, a system mail) with a QUEUED -> SENDING claim
under a fresh claim token, so a second run of its job sends nothing. The claim is fenced like a
campaign batch: the result is written only while the row is still SENDING under that token
(`still_ours`), so when the recovery (notifier/delivery/recovery.py) has given the row of a dead or
stalled worker to another one, the late worker's result is refused and logged, never applied.
The relay's answer is judged by the same rule as campaign mail (domain.send_outcome).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import update

from notifier.delivery import liveness, relays, throttle
from notifier.delivery.composer import transport
from notifier.delivery.sending import exchange_timeout
from notifier.domain.send_outcome import SendResult, SendStatus
from notifier.infra.clock import utcnow
from notifier.infra.extensions import db
from notifier.infra.queues import redis_connection
from notifier.mail.smtp import TransportError

log = logging.getLogger(__name__)


def claim(
    model: Any, row_id: int, queued: StrEnum, sending: StrEnum, now: datetime, *ready: Any
) -> str | None:
    """QUEUED -> SENDING in one statement: exactly one worker gets the row, and its token.
    `ready`: further conditions the row must meet (its retry is due)."""
    token = str(uuid.uuid4())
    liveness.announce(token)
    claimed = db.session.execute(
        update(model)
        .where(model.id == row_id, model.status == queued, *ready)
        .values(status=sending, claimed_at=now, claim_token=token)
        .returning(model.id),
        execution_options={"synchronize_session": False},
    ).first()
    if claimed is None:
        liveness.forget(token)
        return None
    return token


def still_ours(model: Any, row_id: int, token: str, sending: StrEnum) -> bool:
    """Call right before writing a result, in that result's transaction: clears the claim if it
    is still ours, which also locks the row (PostgreSQL) or the database (SQLite) until the
    commit, so the result written after it cannot land on a row the recovery gave away
    meanwhile. False (logged): the row belongs to another try now; write nothing."""
    liveness.forget(token)
    owned = db.session.execute(
        update(model)
        .where(model.id == row_id, model.status == sending, model.claim_token == token)
        .values(claim_token=None)
        .returning(model.id),
        execution_options={"synchronize_session": False},
    ).first()
    if owned is None:
        return refused(model, [row_id], token)
    return True


def refused(model: Any, row_ids: list[int], token: str) -> bool:
    """Log results not written because the recovery took their rows over; always False."""
    log.warning(
        "late result refused: %s %s was taken over by the recovery",
        model.__tablename__,
        ", ".join(map(str, row_ids)),
        extra={"claim": token},
    )
    return False


class Throttled(Exception):
    """No relay may carry the message yet: a window is full, a warm-up day used up, a domain
    group resting or at its connection limit. Nothing was tried, so no attempt counts and the
    recipient's domain is not held against: the caller keeps the row queued for `wait` seconds.
    (A relay that is down is not this: it is a relay that cannot be reached, an attempt.)"""

    def __init__(self, reason: str, wait: float) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, max(wait, 1.0)

    def due(self) -> datetime:
        return utcnow() + timedelta(seconds=self.wait)


def _why_held(grant: relays.Grant) -> tuple[str, float]:
    """The reason and wait of a one-row grant that did not pick its row."""
    held = list(grant.held.values())
    return held[0] if held else (grant.reason, grant.wait)


def send_one(
    envelope_sender: str, to_address: str, message: bytes, kind: str = "notice"
) -> SendResult:
    """A relay that cannot be reached is a temporary failure: nothing left, so try again.
    `kind` (notice, system) picks the relay it is pinned to when RELAYS names several.
    Raises Throttled when the relays' limits hold the message back (nothing tried)."""
    watch = None
    if relays.relays():
        conn = redis_connection()
        holder = uuid.uuid4().hex
        grant = relays.take(conn, kind, None, 1, addresses=[to_address], holder=holder)
        if grant.relay is None or not grant.picked[0]:
            reason, wait = _why_held(grant)
            if not reason.startswith("relay_down:"):
                raise Throttled(reason, wait)
            return SendResult(SendStatus.DEFERRED, None, reason)
        groups = tuple(group for group in grant.groups if group is not None)
        watch = throttle.Watch(conn, grant.relay, holder=holder, groups=groups)
    relay = transport(watch.relay.url if watch else None)
    # As for campaign mail: no exchange may outlive the claim, or the recovery would give the
    # row to a second worker while this one is still sending it.
    relay.limit_timeout(exchange_timeout())
    try:
        result = relay.send(envelope_sender, to_address, message)
    except TransportError as exc:
        result = SendResult(SendStatus.DEFERRED, None, f"relay: {exc}")
    if watch is not None:
        watch.unreachable(result, to_address)
        watch.report()
    return result
