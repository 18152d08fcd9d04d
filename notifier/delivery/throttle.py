"""A campaign batch on several relays: which relay, how many of its rows may leave now, and
when to give up on the relay mid-batch (docs/relays.md).

Before the first message: one `take` (one Redis round trip) grants k of the batch's N rows on one
relay; the other N - k are deferred at once, in one statement: DEFERRED with the reason
"throttled:<relay>" (or "relay_down:<relay>") and next_attempt_at when the window frees, their
attempts unchanged. They were never sent, so they are never failed and never cost an attempt.

During the batch, `Watch` sees each result: a relay that cannot be reached (nothing was sent:
the pipeline reports it as "relay: ...") or that answers BURST 4xx in a row is marked down, and
the batch gives its other rows back unsent, to be claimed again at once, when the next take
draws among the other relays. The message on the wire when a session broke keeps the existing
verdicts (unknown stays unknown).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from sqlalchemy import delete

from notifier.delivery import relays
from notifier.delivery.claims import Claim, Claimed, deferred_until
from notifier.domain.relays import Relay
from notifier.domain.send_outcome import SendResult, SendStatus
from notifier.infra.bulk import update_owned_by_id
from notifier.infra.extensions import db
from notifier.infra.redis_conn import REDIS_FAULTS
from notifier.models import Delivery, SendLog

log = logging.getLogger(__name__)
UNREACHABLE = "relay: "  # how the pipeline reports a session that could not be opened
FLOOR, POLL = 0.05, 0.01  # seconds: the least wait a take answers; the poll below it


@dataclass
class Watch:
    """One batch's relay: its results in a row, and whether it went down during the batch."""

    conn: redis.Redis
    relay: Relay
    streak: int = 0
    down: bool = False
    sent: int = 0
    deferred: Counter[str] = field(default_factory=Counter)

    def unreachable(self, result: SendResult) -> bool:
        """Whether this result means nothing left because the relay could not be reached
        (such a row is deferred as relay_down, no attempt counted); notes the relay's health."""
        if result.status is SendStatus.SENT:
            self.sent += 1
        if result.status in (SendStatus.SENT, SendStatus.FAILED):
            self.streak = 0
            return False
        self.streak += 1
        text = result.message or ""
        nothing_sent = result.status is SendStatus.DEFERRED and text.startswith(UNREACHABLE)
        if nothing_sent or "timed out" in text or self.streak >= relays.BURST:
            self._mark_down(text)
        return nothing_sent

    def _mark_down(self, why: str) -> None:
        if self.down:
            return
        self.down = True
        log.warning("relay %s down: %s", self.relay.name, why[:200])
        try:
            relays.mark_down(self.conn, self.relay)
        except REDIS_FAULTS as exc:  # the batch still stops; the next take may draw it again
            log.warning("relay %s not marked down: %r", self.relay.name, exc)

    @property
    def reason(self) -> str:
        return f"relay_down:{self.relay.name}"

    def deferral(self, item: Claimed, now: datetime) -> dict:
        self.deferred[self.reason] += 1
        return deferred_until(item.delivery_id, self.reason, now)

    def report(self) -> None:
        """The /metrics counters, once a batch."""
        try:
            relays.count(self.conn, {self.relay.name: self.sent}, dict(self.deferred))
        except REDIS_FAULTS as exc:  # a metric must never cost an outcome
            log.warning("relay counts not recorded: %r", exc)


def _take(conn: redis.Redis, purpose: str | None, want: int) -> relays.Grant:
    """A take; refused for want of room that frees within the pace, the claim waits for it
    and asks again, instead of deferring its rows and claiming others to be refused as well
    (measured: those claims kept the relays below their limits, bench/relays.py)."""
    answer = relays.take(conn, "campaign", purpose, want)
    until = time.monotonic() + answer.pace
    while not answer.count and 0 < answer.wait <= until - time.monotonic():
        # A take answers 50 ms at least (the deferral's floor): shorter waits are polled.
        time.sleep(answer.wait if answer.wait > FLOOR else POLL)
        answer = relays.take(conn, "campaign", purpose, want)
    return answer


def grant(
    conn: redis.Redis, claim: Claim, purpose: str | None, now: datetime
) -> tuple[list[Claimed], Watch | None]:
    """The rows that may leave now and the relay's watch; the others are deferred (committed)."""
    answer = _take(conn, purpose, len(claim.sendable))
    granted, rest = claim.sendable[: answer.count], claim.sendable[answer.count :]
    watch = Watch(conn, answer.relay) if answer.relay is not None else None
    if rest:
        reason = answer.reason or f"throttled:{answer.relay.name if answer.relay else ''}"
        until = now + timedelta(seconds=max(answer.wait, answer.pace))
        changes = [deferred_until(item.delivery_id, reason, until) for item in rest]
        owned = update_owned_by_id(Delivery, changes, "claim_token", claim.token)
        if owned:
            db.session.execute(delete(SendLog).where(SendLog.delivery_id.in_(owned)))
        db.session.commit()
        if watch is not None:
            watch.deferred[reason] += len(rest)
        else:
            try:
                relays.count(conn, {}, {reason: len(rest)})
            except REDIS_FAULTS as exc:
                log.warning("relay counts not recorded: %r", exc)
    return granted, watch
