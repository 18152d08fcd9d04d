"""Send a claimed batch and record every outcome, so a killed worker loses at most one message.

A claim is a lease fenced by its token (Kleppmann's fencing tokens): the worker renews it before
a message leaves once a quarter of the lease is gone, and stops sending when the renewal finds
no row under its token any more; the recovery changes the token of every row it settles, and
every write of the worker is conditional on the token, so a late worker's outcomes are refused
by the database, never applied over the recovery's. No SMTP socket operation may wait longer than
a third of the lease, so a message that started under a live lease ends before it expires.

Each SMTP outcome is appended to a Redis journal under the claim's token at once, and written to
the database in small groups. If the worker dies, `recovery.recover_claims` reads the journal: rows
it names get their outcome, the next row (the one that may have been on the wire) becomes
UNKNOWN, and the rest go back to PENDING to be claimed and re-checked again
(notifier/delivery/recovery.py). A worker process also keeps a heartbeat per claim
(liveness.py), so a dead worker's claim is settled within seconds; the send loop then also
renews in the database before a message leaves whenever its heartbeat is late.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import redis
from sqlalchemy import delete, update

from notifier.delivery import liveness, relays, throttle
from notifier.delivery.claims import Claim, Claimed
from notifier.delivery.composer import Composer, envelope_sender, smtp_url, transport
from notifier.delivery.rendering.errors import TemplateError
from notifier.domain.send_outcome import (
    Fate,
    Reason,
    RelayBackoff,
    RetryPolicy,
    SendResult,
    SendStatus,
    Verdict,
    judge,
    render_failed,
)
from notifier.infra.bulk import update_owned_by_id
from notifier.infra.context import settings
from notifier.infra.extensions import db
from notifier.infra.metrics import record_latencies
from notifier.infra.queues import redis_connection
from notifier.infra.redis_conn import REDIS_FAULTS, REDIS_TIMEOUTS
from notifier.mail.message import message_id_of
from notifier.mail.pipeline import Pipeline
from notifier.models import Delivery, DeliveryStatus, SendLog, utcnow

log = logging.getLogger(__name__)
FLUSH_EVERY = 100
JOURNAL_TTL = 7 * 24 * 3600


def retry_limit() -> int:
    return settings().SEND_RETRY_LIMIT


def retry_base() -> timedelta:
    """The first wait after a 4xx; each further attempt doubles it."""
    return timedelta(seconds=settings().SMTP_RETRY_SECONDS)


RETRY_JITTER = 0.5  # each wait is 50 % to 150 % of its exponential value


def retry_policy() -> RetryPolicy:
    """The one retry policy of campaign mail, notices and system mail."""
    return RetryPolicy(retry_limit(), retry_base(), RETRY_JITTER, random.random)


_backoffs: dict[str, RelayBackoff] = {}  # per relay (SMTP_URL), for this worker process


def relay_backoff() -> RelayBackoff:
    return _backoffs.setdefault(smtp_url(), RelayBackoff())


def verdict_on(status: SendStatus, attempts: int, address: str, *, resend_unknown: bool) -> Verdict:
    """The one outcome rule with the wait of the (relay, recipient domain)'s backoff, for
    one-row mail (a campaign batch reads the policy and backoff once: `_change`)."""
    streak = relay_backoff().record(address, status)
    policy = retry_policy()
    return judge(status, attempts, policy, utcnow(), resend_unknown=resend_unknown, streak=streak)


def journal_key(token: str) -> str:
    return f"notifier:claim:{token}"


@dataclass
class Outcomes:
    """Outcomes not yet written to the database, and what this batch did in total."""

    pending: list[dict] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    leased_at: float = field(default_factory=time.monotonic)  # the claim, or its last renewal
    token: str = ""  # the claim's: its heartbeat decides when the lease must be renewed too
    # Read once a batch, not once a message: settings come through Flask's app context.
    lease_seconds: float = field(default_factory=lambda: lease().total_seconds())
    policy: RetryPolicy = field(default_factory=lambda: retry_policy())
    backoff: RelayBackoff = field(default_factory=lambda: relay_backoff())
    lost: bool = False  # the recovery took the claim over: nothing more is ours to send or write
    # The journal's Redis did not answer in time (when the batch began, nothing was sent, all
    # released; or mid-batch): each further Redis call would wait for its timeout too, so the
    # job records no latencies and ends after this batch instead of claiming another.
    redis_down: bool = False

    def add(self, change: dict) -> None:
        self.pending.append(change)
        status = str(change["status"])
        self.counts[status] = self.counts.get(status, 0) + 1


class Interlude(Protocol):
    """Other work the send loop may do between two messages (notices: see NoticeDesk)."""

    def waiting(self) -> bool: ...

    def serve(self) -> int: ...


def send_claim(
    claim: Claim,
    composer: Composer,
    data: dict,
    *,
    advertising: bool,
    should_stop: Callable[[], bool] = lambda: False,
    interlude: Interlude | None = None,
    purpose: str | None = None,
) -> Outcomes:
    """Send in delivery-id order; stop early (releasing the rest) when asked to, when the
    journal's Redis fails (what is held goes straight to the database), the lease is lost or
    the batch's relay (one of RELAYS) goes down."""
    outcomes = Outcomes(token=claim.token)
    liveness.announce(claim.token)
    journal = Journal(redis_connection(), journal_key(claim.token))
    outcomes.redis_down = journal.unresponsive or journal.broken
    sendable, watch = claim.sendable, None
    if relays.relays() and not journal.broken:
        # Several relays: one take for the batch; the rows not granted are deferred now.
        try:
            sendable, watch = throttle.grant(redis_connection(), claim, purpose, utcnow())
        except REDIS_FAULTS as exc:
            journal.fail(exc)
    relay = transport(watch.relay.url if watch else None)
    relay.limit_timeout(exchange_timeout())
    last_flush = time.monotonic()

    def record(done: list[tuple[_InFlight, SendResult]]) -> None:
        # Journaled before the next content is written: so a kill loses at most one message.
        now = utcnow()
        for sent, result in done:
            outcomes.latencies.append(time.perf_counter() - sent.began)
            if watch is not None and watch.unreachable(result, sent.item.recipient.email):
                change = watch.deferral(sent.item, now)  # nothing left: no attempt counted
            else:
                change = _change(sent, result, advertising, outcomes.policy, outcomes.backoff, now)
            journal.append(_journal_entry(change))
            outcomes.add(change)

    try:
        with Pipeline[_InFlight](relay, record) as pipeline:
            for index, item in enumerate(sendable):
                if should_stop() or journal.broken or (watch is not None and watch.down):
                    # A relay gone down: the rest is claimed again at once, for another relay.
                    outcomes.released = [c.delivery_id for c in sendable[index:]]
                    break
                if (
                    lease_due(outcomes)
                    or len(outcomes.pending) >= FLUSH_EVERY
                    or time.monotonic() - last_flush > 0.5
                ):
                    # Right before the message leaves: a due lease is renewed or nothing is sent.
                    journal.sync()
                    outcomes.redis_down = journal.unresponsive
                    flush(outcomes, claim.token, renew=True)
                    last_flush = time.monotonic()
                if outcomes.lost:
                    break  # the rest belongs to the recovery now
                if interlude is not None and _notices_waiting(interlude, journal):
                    # Nothing of this batch may be on the wire while the connection is lent.
                    pipeline.finish()
                    # Marked in the journal: a worker that dies while the connection is lent had
                    # no row of this batch on the wire, so the recovery marks none unknown.
                    journal.append(LENT_TO_NOTICES)
                    _serve_notices(interlude, journal)
                    journal.append(BACK_FROM_NOTICES)
                if journal.broken:  # the notices' queue is in the same Redis
                    outcomes.released = [c.delivery_id for c in sendable[index:]]
                    break
                rested = watch.rested(item) if watch is not None else None
                if rested is not None:  # its domain group asked to slow down (421/451)
                    journal.append(_journal_entry(rested))
                    outcomes.add(rested)
                    continue
                _submit(pipeline, item, composer, data, f"c{claim.campaign_id}", record)
            if outcomes.lost:
                pipeline.abandon()  # the held content is the recovery's row now: it stays here
            else:
                pipeline.finish()
        journal.sync()
        outcomes.redis_down = journal.unresponsive
        flush(outcomes, claim.token)
        release(outcomes.released, claim.token)
        journal.discard()  # only now is every outcome in the database
        if watch is not None:
            watch.report()
    except Exception:
        # The outcomes held are facts the journal may not have (its Redis may be gone too).
        _save_what_is_known(outcomes, claim.token)
        raise
    finally:
        # On an error (the database restarting, say) the journal stays for the recovery.
        journal.close()
        liveness.forget(claim.token)
    log.info(
        "batch sent",
        extra={"campaign_id": claim.campaign_id, "claim": claim.token, "counts": outcomes.counts},
    )
    return outcomes


def _notices_waiting(interlude: Interlude, journal: Journal) -> bool:
    try:
        return interlude.waiting()
    except Exception as exc:  # its Redis failed: as for the journal, stop the batch
        journal.fail(exc)
        return False


def _serve_notices(interlude: Interlude, journal: Journal) -> None:
    try:
        interlude.serve()
    except REDIS_FAULTS as exc:  # its Redis failed mid-way: the notices' rows stay the truth
        journal.fail(exc)


def _save_what_is_known(outcomes: Outcomes, token: str) -> None:
    try:
        db.session.rollback()
        flush(outcomes, token)
    except Exception:  # the database is the fault: the journal and the recovery remain
        log.exception("held outcomes of claim %s not written", token)


class Journal:
    """Outcomes appended to a Redis list without waiting for each reply.

    A command written to the socket reaches Redis even if this process is killed the next
    instant (the kernel still sends what was written), so not waiting costs no safety; the
    replies are read in bulk at each flush.

    The journal is an optimisation, not a dependency: any failure of Redis (redis-py raises
    RedisError, but a reset socket also surfaces as OSError or AttributeError from its parser)
    marks it broken, and the send loop then writes what it holds to the database and stops.
    """

    def __init__(self, conn: redis.Redis, key: str) -> None:
        self.pool, self.key = conn.connection_pool, key
        name = key.encode()
        self._rpush = b"*3\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n" % (len(name), name)
        self.connection: Any = None
        self.unread = 0
        self.broken = False
        self.unresponsive = False  # broken by a timeout: Redis is stalled, not just reset
        try:
            self.connection = self.pool.get_connection()
        except Exception as exc:  # any Redis failure means: no journal
            self._break(exc)
        self._command("EXPIRE", key, JOURNAL_TTL)  # harmless on a missing key; set again below
        # Its reply is awaited (one round trip a batch): a Redis that does not answer (stalled:
        # the socket connects, nothing replies) costs the batch before any message leaves.
        self.sync()

    def fail(self, exc: BaseException) -> None:
        self._break(exc)

    def _break(self, exc: BaseException) -> None:
        if not self.broken:
            log.warning("journal %s lost its Redis: %r", self.key, exc)
        self.broken = True
        self.unresponsive = self.unresponsive or isinstance(exc, REDIS_TIMEOUTS)

    def _command(self, *args: object) -> None:
        if self.broken:
            return
        try:
            self.connection.send_command(*args)
            self.unread += 1
        except Exception as exc:  # see the class
            self._break(exc)

    def append(self, entry: str) -> None:
        if self.broken:
            return
        # Packed here (RESP is two lines per argument): redis-py's general packer costs more
        # than the rest of the append, once per message.
        value = entry.encode()
        try:
            self.connection.send_packed_command(
                [self._rpush + b"$%d\r\n%s\r\n" % (len(value), value)], check_health=False
            )
        except Exception as exc:  # see the class
            self._break(exc)
            return
        self.unread += 1
        if self.unread == 2:
            self._command("EXPIRE", self.key, JOURNAL_TTL)

    def sync(self) -> None:
        try:
            while self.unread and not self.broken:
                reply = self.connection.read_response()
                self.unread -= 1
                if isinstance(reply, Exception):
                    raise reply
        except Exception as exc:  # see the class
            self._break(exc)

    def discard(self) -> None:
        self._command("DEL", self.key)
        self.sync()

    def close(self) -> None:
        # Unread replies must not reach the pool's next user: read them, or drop the socket.
        if self.connection is None:
            return
        self.sync()
        try:
            if self.broken or self.unread:
                self.connection.disconnect()
        except Exception:  # noqa: S110 - a dead socket is being dropped anyway
            pass
        finally:
            self.pool.release(self.connection)


@dataclass(frozen=True)
class _InFlight:
    item: Claimed
    message: bytes
    began: float
    render_error: bool = False


def _submit(
    pipeline: Pipeline[_InFlight],
    item: Claimed,
    composer: Composer,
    data: dict,
    campaign: str,
    record: Callable[[list[tuple[_InFlight, SendResult]]], None],
) -> None:
    """Compose one message and give it to the pipeline, which reports the results it reads
    (this message's own comes with a later call). The relay meanwhile works on the last write."""
    began = time.perf_counter()
    try:
        message = composer.compose(item.recipient, data, f"d{item.delivery_id}", campaign)
    except (TemplateError, ValueError) as exc:
        # The data of this one recipient does not fit the template: fail it, keep the batch.
        # Recorded ahead of earlier rows still in the pipeline, which the recovery allows: the
        # one content that may be on the wire is always that of the first row without a result.
        failed = SendResult(SendStatus.FAILED, None, f"render: {exc}")
        record([(_InFlight(item, b"", began, render_error=True), failed)])
        return
    sent = _InFlight(item, message, began)
    pipeline.send(sent, envelope_sender(item.delivery_id), item.recipient.email, message)


def _change(
    sent: _InFlight,
    result: SendResult,
    advertising: bool,
    policy: RetryPolicy,
    backoff: RelayBackoff,
    now: datetime,
) -> dict:
    item = sent.item
    if result.status is not SendStatus.SENT:
        log.info(
            "not sent: %s",
            result.message,
            extra={"delivery_id": item.delivery_id, "smtp_code": result.code},
        )
    verdict = (
        render_failed(item.attempts)
        if sent.render_error
        else judge(
            result.status,
            item.attempts,
            policy,
            now,
            resend_unknown=not advertising,
            streak=backoff.record(item.recipient.email, result.status),
        )
    )
    change = outcome_change(item, verdict, result, now)
    if verdict.fate is Fate.SENT:
        change["message_id"] = message_id_of(sent.message)
    return change


# A verdict's fate as a delivery row's status. A retry of service mail whose outcome is unknown
# goes back to PENDING, to be claimed and checked again, not to DEFERRED's backoff queue.
_STATUS = {
    Fate.SENT: DeliveryStatus.SENT,
    Fate.FAILED: DeliveryStatus.FAILED,
    Fate.UNKNOWN: DeliveryStatus.UNKNOWN,
}


def outcome_change(item: Claimed, verdict: Verdict, result: SendResult, now: datetime) -> dict:
    change: dict = {
        "id": item.delivery_id,
        "consent_event_id": item.consent_event_id,
        "tracking": item.recipient.tracking,  # the ledger shows whether the mail was tracked
        "smtp_code": result.code,
        "smtp_message": (result.message or "")[:500],
        "claim_token": None,
        "reason": verdict.reason.value if verdict.reason else None,
    }
    if verdict.attempts != item.attempts:
        change["attempts"] = verdict.attempts
    if verdict.fate is Fate.SENT:
        change.update(status=DeliveryStatus.SENT, sent_at=now)
    elif verdict.fate is Fate.RETRY and verdict.reason is Reason.RESEND_AFTER_UNKNOWN:
        change.update(status=DeliveryStatus.PENDING)
    elif verdict.fate is Fate.RETRY:
        change.update(status=DeliveryStatus.DEFERRED, next_attempt_at=verdict.next_attempt_at)
    else:
        change.update(status=_STATUS[verdict.fate])
    return change


# Journal markers around the notices a batch serves between two of its messages (see send_claim).
LENT_TO_NOTICES, BACK_FROM_NOTICES = "~lent", "~back"


def _journal_entry(change: dict) -> str:
    return f"{change['id']}|{change['status']}|{change.get('smtp_code') or ''}|" + (
        change.get("message_id") or ""
    )


def flush(outcomes: Outcomes, token: str, *, renew: bool = False) -> None:
    """Write outcomes of rows still under `token`; free the cap reservation of what was not
    sent; with `renew`, renew the lease if due (and learn whether it is still ours)."""
    _record_latencies(outcomes)
    if outcomes.pending:
        written = write_owned(outcomes.pending, token)
        unsent = [
            c["id"]
            for c in written
            if c["status"] not in (DeliveryStatus.SENT, DeliveryStatus.UNKNOWN)
        ]
        if unsent:
            db.session.execute(delete(SendLog).where(SendLog.delivery_id.in_(unsent)))
        outcomes.pending = []
    # Renewing rewrites every row still claimed, so only when a quarter of the lease is gone:
    # a batch normally ends long before, and then never pays for it.
    if renew and lease_due(outcomes):
        began = time.monotonic()  # the lease runs from before the write: the safe side
        renewed = db.session.execute(
            update(Delivery)
            .where(Delivery.claim_token == token, Delivery.status == DeliveryStatus.CLAIMED)
            .values(claimed_at=utcnow()),
            execution_options={"synchronize_session": False},
        )
        # Called before a message leaves, so that message's row is claimed if the claim is
        # still ours: no row at all means the recovery changed the token.
        if renewed.rowcount == 0:  # type: ignore[attr-defined]
            outcomes.lost = True
            log.warning("claim %s was taken over by the recovery: stopping", token)
        outcomes.leased_at = began
    db.session.commit()


def _record_latencies(outcomes: Outcomes) -> None:
    latencies, outcomes.latencies = outcomes.latencies, []
    if outcomes.redis_down:
        return  # a stalled Redis would cost a timeout for a metric
    try:
        record_latencies(redis_connection(), latencies)
    except Exception as exc:  # metrics must never cost an outcome
        log.warning("latencies not recorded: %r", exc)


def write_owned(changes: list[dict], token: str) -> list[dict]:
    """Apply the changes of the rows this claim still owns; drop (and log) the others.

    The write is conditional on the token: the recovery's fencing UPDATE either ran first
    (the rows are no longer under this token and are left alone) or waits for this
    transaction's row locks and then finds them settled."""
    owned = update_owned_by_id(Delivery, changes, "claim_token", token)
    kept = [c for c in changes if c["id"] in owned]
    if len(kept) < len(changes):
        log.warning(
            "claim %s lost %d rows to the recovery: their outcomes are dropped",
            token,
            len(changes) - len(kept),
        )
    return kept


def release(delivery_ids: list[int], token: str) -> None:
    """Give rows back unsent (SIGTERM, pause): they will be claimed and checked again."""
    if not delivery_ids:
        return
    released = db.session.scalars(
        update(Delivery)
        .where(
            Delivery.id.in_(delivery_ids),
            Delivery.status == DeliveryStatus.CLAIMED,
            Delivery.claim_token == token,
        )
        .values(status=DeliveryStatus.PENDING, claim_token=None, claimed_at=None)
        .returning(Delivery.id),
        execution_options={"synchronize_session": False},
    ).all()
    if released:
        db.session.execute(delete(SendLog).where(SendLog.delivery_id.in_(released)))
    db.session.commit()


def lease() -> timedelta:
    return timedelta(seconds=settings().CLAIM_LEASE_SECONDS)


def lease_due(outcomes: Outcomes) -> bool:
    """A quarter of the lease is gone since the claim or its last renewal, or the claim's
    heartbeat is so late that the recovery may soon call its worker dead."""
    now = time.monotonic()
    return now - outcomes.leased_at > outcomes.lease_seconds / 4 or now > liveness.send_deadline(
        outcomes.token, outcomes.leased_at
    )


def exchange_timeout() -> float:
    """The longest one SMTP socket operation may wait: a third of the lease. A message
    leaves at most a quarter lease after a renewal, so it is done (or given up) well before
    the recovery may settle its row."""
    return lease().total_seconds() / 3
