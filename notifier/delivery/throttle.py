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
from notifier.domain.domain_groups import DomainGroup, backoff_ms, throttles
from notifier.domain.relays import Relay
from notifier.domain.send_outcome import SendResult, SendStatus
from notifier.infra.bulk import update_owned_by_id
from notifier.infra.extensions import db
from notifier.infra.redis_conn import REDIS_FAULTS
from notifier.mail.smtp import CLOSING
from notifier.models import Delivery, SendLog, utcnow

log = logging.getLogger(__name__)
UNREACHABLE = "relay: "  # how the pipeline reports a session that could not be opened
FLOOR, POLL = 0.05, 0.01  # seconds: the least wait a take answers; the poll below it


@dataclass
class Watch:
    """One batch's relay: its 4xx in a row, whether it went down during the batch, and the
    recipient-domain groups that asked it to slow down (421/451) during the batch."""

    conn: redis.Redis
    relay: Relay
    streak: int = 0  # this batch's own, when Redis cannot count the relay's (see _failed)
    down: bool = False
    sent: int = 0
    deferred: Counter[str] = field(default_factory=Counter)
    holder: str = ""
    groups: tuple[DomainGroup, ...] = ()  # the groups of the batch's rows that were granted
    resting: dict[str, datetime] = field(default_factory=dict)  # group -> until
    answered: bool = False  # the relay accepted or refused something: its 4xx run is over
    fine: set[str] = field(default_factory=set)  # groups reached without a 421/451

    def unreachable(self, result: SendResult, address: str = "") -> bool:
        """Whether this result means nothing left because the relay could not be reached
        (such a row is deferred as relay_down, no attempt counted); notes the relay's health
        and, for a 421/451 from a domain group, rests the group."""
        group = relays.group_index().group_of(address) if address else None
        if result.status is SendStatus.SENT:
            self.sent += 1
        if result.status in (SendStatus.SENT, SendStatus.FAILED):
            self.streak, self.answered = 0, True
            if group is not None:
                self.fine.add(group.name)
            return False
        text = result.message or ""
        # A 421 closes the session, so it reads as a lost session (no code) with CLOSING.
        if group is not None and (throttles(result.code) or text.startswith(CLOSING)):
            self._rest(group)  # the domain's provider asks to slow down, not the relay
            return False
        nothing_sent = result.status is SendStatus.DEFERRED and text.startswith(UNREACHABLE)
        if nothing_sent or "timed out" in text or self._failed() >= relays.BURST:
            self._mark_down(text)
        return nothing_sent

    def _failed(self) -> int:
        """The relay's 4xx (and lost sessions) in a row, over all workers: counted in Redis
        (one call a failure; a batch with an answer ends the run: report)."""
        self.streak += 1
        try:
            return relays.failed_in_a_row(self.conn, self.relay)
        except REDIS_FAULTS:
            return self.streak

    def _rest(self, group: DomainGroup) -> None:
        if group.name in self.resting:
            return
        try:
            seconds = relays.back_off(self.conn, group)
        except REDIS_FAULTS as exc:  # this batch still holds the group's rows back
            log.warning("group %s not rested: %r", group.name, exc)
            seconds = 0
        seconds = seconds or backoff_ms(1) / 1000
        log.warning("domain group %s answered 421/451: resting %.1f s", group.name, seconds)
        self.resting[group.name] = utcnow() + timedelta(seconds=seconds)

    def rested(self, item: Claimed) -> dict | None:
        """The deferral of a row whose group was rested during this batch (sent nothing, no
        attempt counted), or None when it may leave."""
        if not self.resting:
            return None
        group = relays.group_index().group_of(item.recipient.email)
        if group is None or group.name not in self.resting:
            return None
        reason = f"backoff:{group.name}"
        self.deferred[reason] += 1
        return deferred_until(item.delivery_id, reason, self.resting[group.name])

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
        """Once a batch: the /metrics counters, the connection slots given back, the groups
        that answered well calmed, the relay's 4xx run ended if it answered."""
        try:
            pipe = self.conn.pipeline(transaction=False)
            relays.count_in(pipe, {self.relay.name: self.sent}, dict(self.deferred))
            if self.holder:
                relays.release(pipe, self.relay, self.groups, self.holder)
            for group in self.groups:
                if group.name in self.fine and group.name not in self.resting:
                    relays.calm(pipe, group)
            if self.answered:
                relays.answered(pipe, self.relay)
            pipe.execute()
        except REDIS_FAULTS as exc:  # a metric must never cost an outcome
            log.warning("relay counts not recorded: %r", exc)


def _take(conn: redis.Redis, purpose: str | None, claim: Claim) -> relays.Grant:
    """A take; refused by the relays' windows for room that frees within the pace, the claim
    waits for it and asks again, instead of deferring its rows and claiming others to be
    refused as well (measured: those claims kept the relays below their limits,
    bench/relays.py). When only domain groups held the rows back, the relays were not asked
    (their wait is 0): the rows wait for their groups, deferred."""
    addresses = [item.recipient.email for item in claim.sendable]

    def ask() -> relays.Grant:
        return relays.take(conn, "campaign", purpose, len(addresses), addresses=addresses,
                           holder=claim.token)  # fmt: skip

    answer = ask()
    until = time.monotonic() + answer.pace
    while not answer.count and 0 < answer.wait <= until - time.monotonic():
        # A take answers 50 ms at least (the deferral's floor): shorter waits are polled.
        time.sleep(answer.wait if answer.wait > FLOOR else POLL)
        answer = ask()
    return answer


def grant(
    conn: redis.Redis, claim: Claim, purpose: str | None, now: datetime
) -> tuple[list[Claimed], Watch | None]:
    """The rows that may leave now and the relay's watch; the others are deferred (committed):
    held by their domain group's limit or rest, or by the relays' windows and health."""
    answer = _take(conn, purpose, claim)
    granted = [item for item, go in zip(claim.sendable, answer.picked, strict=True) if go]
    rest = [item for item, go in zip(claim.sendable, answer.picked, strict=True) if not go]
    watch = None
    if answer.relay is not None:
        chosen = {g for g, go in zip(answer.groups, answer.picked, strict=True) if go and g}
        watch = Watch(conn, answer.relay, holder=claim.token, groups=tuple(chosen))
    deferred: Counter[str] = Counter()
    if rest:
        relay_reason = answer.reason or f"throttled:{answer.relay.name if answer.relay else ''}"
        relay_until = now + timedelta(seconds=max(answer.wait, answer.pace))
        changes = []
        for item, group, go in zip(claim.sendable, answer.groups, answer.picked, strict=True):
            if go:
                continue
            held = answer.held.get(group.name) if group is not None else None
            reason, until = (
                (held[0], now + timedelta(seconds=held[1])) if held else (relay_reason, relay_until)
            )
            changes.append(deferred_until(item.delivery_id, reason, until))
            deferred[reason] += 1
        owned = update_owned_by_id(Delivery, changes, "claim_token", claim.token)
        if owned:
            db.session.execute(delete(SendLog).where(SendLog.delivery_id.in_(owned)))
        db.session.commit()
        if watch is not None:
            watch.deferred.update(deferred)
        else:
            try:
                relays.count(conn, {}, dict(deferred))
            except REDIS_FAULTS as exc:
                log.warning("relay counts not recorded: %r", exc)
    return granted, watch
