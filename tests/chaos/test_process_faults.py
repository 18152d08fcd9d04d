"""kill -9 of the processes that send and of the one that settles: the campaign and the notices
sent meanwhile still reach everyone once."""

from __future__ import annotations

import pytest

from notifier.infra.settings import settings_of
from tests.chaos.conftest import Chaos
from tests.chaos.harness import (
    BATCH_SIZE,
    LEASE,
    NOTICES,
    TIMEOUT,
    SendLogLock,
    assert_exactly_once,
    claims_are_fresh,
    needs_postgres,
    prepare,
    run,
    tally,
)

pytestmark = [pytest.mark.slow, needs_postgres]

KILLS_AT_MOST = 4  # until one of them leaves a claim for the recovery to settle


def test_kill_9_of_a_worker_five_times_during_one_campaign(chaos: Chaos) -> None:
    processes = chaos.launch(CLAIM_LEASE_SECONDS=LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare(NOTICES)
    step = len(audience.eligible) // 7
    # A worker busy with a batch (or a notice), restarted at once as systemd would.
    redis = chaos.redis.client()
    kills = [(step * k, lambda: processes.kill_busy_worker(redis)) for k in range(1, 6)]
    seconds = run(audience, chaos.relay, processes, kills, TIMEOUT)
    result = tally("kill -9 worker x5", audience, chaos.relay, seconds, faults=5)
    chaos.record(result)
    assert_exactly_once(result)


def test_kill_9_of_the_scheduler_then_a_restart(chaos: Chaos) -> None:
    processes = chaos.launch(CLAIM_LEASE_SECONDS=LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare(NOTICES)
    step = len(audience.eligible) // 6
    redis = chaos.redis.client()
    # Down for a sixth of the campaign each time; a worker dies while it is down, so the
    # restarted scheduler has a claim to settle.
    faults = [
        (step, processes.kill_scheduler),
        (step * 2, lambda: processes.kill_busy_worker(redis)),
        (step * 3, processes.start_scheduler),
        (step * 4, processes.kill_scheduler),
        (step * 5, processes.start_scheduler),
    ]
    seconds = run(audience, chaos.relay, processes, faults, TIMEOUT)
    # The scheduler sends nothing: the unknowns allowed are the one killed worker's.
    result = tally(
        "kill -9 scheduler x2 (+1 worker)", audience, chaos.relay, seconds, faults=3,
        unknown_budget=1,
    )  # fmt: skip
    chaos.record(result)
    assert_exactly_once(result)


def test_kill_9_of_the_scheduler_while_it_settles_a_dead_workers_claim(chaos: Chaos) -> None:
    """The recovery fences a dead worker's rows, reads its journal and settles them. The
    scheduler killed in the middle (held here at its DELETE of the batch's cap reservations)
    must not cost the journal's outcomes: its successor settles those rows as the journal says
    (a fence committed on its own lost the journal's name, and its messages went out again)."""
    processes = chaos.launch(CLAIM_LEASE_SECONDS=LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare()
    redis = chaos.redis.client()
    url = settings_of(chaos.app).DATABASE_URL
    held: list[SendLogLock] = []

    def kill_a_worker_and_hold_its_reservations() -> bool:
        if not claims_are_fresh(url, redis):
            return False
        if not processes.kill_busy_worker(redis):
            return False
        # After the kill: a dead worker claims nothing more, so the lock covers all it held.
        held.append(SendLogLock(url))
        return True

    def kill_the_scheduler_mid_recovery() -> bool:
        if not held[-1].recovery_waits():
            if held[-1].conn.closed or held[-1].claims_settled():
                # The killed worker held no campaign claim (it was between two batches), so
                # nothing will ever wait: another kill.
                if not held[-1].conn.closed:
                    held[-1].release()
                assert len(held) < KILLS_AT_MOST, f"{len(held)} kills left no claim to settle"
                kill_a_worker_and_hold_its_reservations()
            return False
        processes.kill_scheduler()
        held[-1].release()
        processes.start_scheduler()
        return True

    step = len(audience.eligible) // 6  # early: room for another kill
    faults = [
        (step, kill_a_worker_and_hold_its_reservations),
        (step, kill_the_scheduler_mid_recovery),
    ]
    try:
        seconds = run(audience, chaos.relay, processes, faults, TIMEOUT)
    finally:
        for lock in held:
            if not lock.conn.closed:
                lock.release()
    assert held and held[-1].locked, "no reservation was held"
    result = tally(
        "kill -9 scheduler mid-recovery", audience, chaos.relay, seconds, faults=len(held) + 1,
        unknown_budget=len(held),
    )  # fmt: skip
    chaos.record(result)
    assert_exactly_once(result)
