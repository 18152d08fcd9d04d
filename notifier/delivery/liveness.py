"""Which claims still have a live worker: a heartbeat per claim, so a dead worker's claims are
settled within seconds instead of at lease expiry.

RQ's SimpleWorker does not heartbeat while a long job runs, so the worker process keeps its own
heartbeat thread (`Heartbeat`): for each claim it holds it sets a key `notifier:alive:<token>`
that expires after three intervals, and a key `notifier:owned:<token>` that says the claim is
watched this way at all; once when the claim is made (from the claiming thread), then every
HEARTBEAT_SECONDS. The scheduler (`dead_claims`) calls a claim dead
only on positive evidence: its owner key is there, its alive key is not, and Redis has kept its
data for at least one heartbeat period. Anything less (Redis unreachable, flushed or restarted,
a claim of a process without the thread) falls back to lease expiry.

The worker's side of the bargain (`send_deadline`): a claim announced this way may be settled
three intervals after its last heartbeat that Redis took, so before each message the send loop
checks that deadline and, when its heartbeat is late, renews the claim in the database first
(the recovery leaves a claim renewed within `grace()` alone).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import redis

from notifier.infra.context import settings
from notifier.infra.queues import redis_connection
from notifier.infra.redis_conn import REDIS_FAULTS

log = logging.getLogger(__name__)
EPOCH = "notifier:alive:epoch"  # which Redis server run, and since when, holds the heartbeats
OWNED_TTL = 7 * 24 * 3600


def alive_key(token: str) -> str:
    return f"notifier:alive:{token}"


def owned_key(token: str) -> str:
    return f"notifier:owned:{token}"


def interval() -> float:
    return settings().HEARTBEAT_SECONDS


def grace() -> float:
    """How long a claim's heartbeat may be missing before it is dead; also how long a claim
    renewed in the database is left alone whatever its heartbeat says."""
    return 3 * interval()


class Heartbeat:
    """The worker process's heartbeat thread and the claims it keeps alive."""

    def __init__(self, conn: redis.Redis, every: float) -> None:
        self.conn, self.every = conn, every
        self.name = f"{uuid.uuid4()}"
        # token -> monotonic start of its last heartbeat Redis took (0.0: tried, none taken yet)
        self.beats: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notifier-heartbeat", daemon=True)
        self._failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def announce(self, token: str) -> None:
        """At once, from the claiming thread: a worker killed in its claim's first second must
        be known by its heartbeat too. If Redis fails, the thread tries again each round."""
        self.beats[token] = 0.0
        self._write([token])

    def forget(self, token: str) -> None:
        self.beats.pop(token, None)

    def beat(self) -> None:
        tokens = list(self.beats)
        if tokens:
            self._write(tokens)

    def _write(self, tokens: list[str]) -> None:
        ttl_ms = int(3 * self.every * 1000)  # grace(): the thread has no app context to ask
        began = time.monotonic()  # the key lives from after this: the worker's safe side
        try:
            # One transaction, so a claim's two keys are there together or not at all: after a
            # FLUSHDB the next beat puts both back (the claim is announced again).
            with self.conn.pipeline(transaction=True) as pipe:
                for token in tokens:
                    pipe.set(alive_key(token), self.name, px=ttl_ms)
                    pipe.set(owned_key(token), self.name, ex=OWNED_TTL)
                pipe.execute()
        except REDIS_FAULTS as exc:
            if not self._failing:
                log.warning("heartbeat not written: %r", exc)
            self._failing = True
            return
        self._failing = False
        for token in tokens:
            if token in self.beats:
                self.beats[token] = began

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except Exception:  # the thread must outlive any surprise; the send loop checks it
                log.exception("heartbeat round failed")


_current: Heartbeat | None = None


def start(conn: redis.Redis, every: float) -> Heartbeat:
    """Once per worker process (`processes.worker.run_worker`)."""
    global _current
    heartbeat = Heartbeat(conn, every)
    heartbeat.start()
    _current = heartbeat
    return heartbeat


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None


def announce(token: str) -> None:
    """Before the claim is committed; a process without the thread announces nothing and its
    claims are settled at lease expiry only."""
    if _current is not None:
        _current.announce(token)


def expect(token: str) -> None:
    """Alive for grace() before its worker announces it (a job just enqueued): a process that
    waits for the heartbeat to start work anew must not start it twice in between. Best
    effort: without Redis the caller's other checks remain."""
    try:
        redis_connection().set(alive_key(token), "expected", px=int(grace() * 1000))
    except REDIS_FAULTS as exc:
        log.warning("%s not marked as expected: %r", token, exc)


def forget(token: str) -> None:
    if _current is not None:
        _current.forget(token)


def send_deadline(token: str, leased_at: float) -> float:
    """The monotonic instant after which a message of this claim may leave only once the claim
    was renewed in the database: the recovery may call the claim dead from then on."""
    last = _current.beats.get(token) if _current is not None else None
    if _current is None or last is None:
        return float("inf")  # never announced: lease rules only
    # The alive key expires grace() after the SET; the recovery also waits until the claim's
    # last renewal is grace() old. One interval of margin for clocks and the write itself.
    return max(last, leased_at) + 2 * _current.every


def dead_claims(conn: redis.Redis, tokens: list[str]) -> set[str]:
    """The claims among `tokens` whose worker is known to be gone; empty when Redis cannot say.

    Redis must have kept its data for a whole heartbeat period: after a restart or a FLUSHDB
    every alive key is missing, and the workers need one round to put theirs back."""
    try:  # even without tokens: the period starts at the first look at this Redis run
        run_id = str(conn.info("server").get("run_id", ""))
        with conn.pipeline(transaction=True) as pipe:
            pipe.get(EPOCH)
            pipe.time()
            for token in tokens:
                pipe.exists(owned_key(token))
                pipe.exists(alive_key(token))
            epoch, (seconds, micros), *flags = pipe.execute()
        now = seconds + micros / 1e6
        since = _epoch_since(epoch, run_id)
        if since is None:
            # First look at this Redis run, or its data was lost: judge from the next period on.
            conn.set(EPOCH, f"{run_id}|{now}")
            return set()
    except REDIS_FAULTS as exc:
        log.warning("heartbeats unreadable, claims wait for their lease: %r", exc)
        return set()
    if now - since < grace() + interval():
        return set()
    return {
        token
        for token, owned, alive in zip(tokens, flags[::2], flags[1::2], strict=True)
        if owned and not alive
    }


def _epoch_since(epoch: bytes | None, run_id: str) -> float | None:
    if not epoch:
        return None
    stored_run, _, since = epoch.decode().partition("|")
    if stored_run != run_id:
        return None  # restarted (perhaps from an old snapshot whose heartbeats are stale)
    try:
        return float(since)
    except ValueError:
        return None
