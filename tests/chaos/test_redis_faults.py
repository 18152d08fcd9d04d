"""Redis attacked mid-send, twice per campaign: flushed, its clients' connections killed, restarted
without persistence. The database is the truth, so nothing is lost or sent twice."""

from __future__ import annotations

import time

import pytest

from tests.chaos.conftest import Chaos
from tests.chaos.harness import (
    BATCH_SIZE,
    LEASE,
    NOTICES,
    TIMEOUT,
    assert_exactly_once,
    claimed_rows,
    needs_postgres,
    prepare,
    run,
    tally,
)
from tests.chaos.relay import wait_for

pytestmark = [pytest.mark.slow, needs_postgres]


@pytest.mark.parametrize("fault", ["flushdb", "client_kill", "restart_without_persistence"])
def test_redis_faults_mid_send_lose_and_duplicate_nothing(chaos: Chaos, fault: str) -> None:
    processes = chaos.launch(CLAIM_LEASE_SECONDS=LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare(NOTICES)
    inject = {
        "flushdb": chaos.redis.flush,
        "client_kill": chaos.redis.kill_clients,
        "restart_without_persistence": chaos.redis.restart,
    }[fault]
    eligible = len(audience.eligible)
    faults = [(eligible // 5, inject), (eligible // 2, inject)]
    seconds = run(audience, chaos.relay, processes, faults, TIMEOUT)
    result = tally(f"redis {fault} x2", audience, chaos.relay, seconds, faults=2)
    chaos.record(result)
    assert_exactly_once(result)


def test_a_stalled_redis_costs_a_worker_its_batch_not_a_hang(chaos: Chaos) -> None:
    """Redis frozen (SIGSTOP) mid-send for three leases: every Redis call of the send path
    fails after REDIS_TIMEOUT_SECONDS (capped at a third of the lease), so each worker writes
    what it sent to the database and releases the rest of its batch while Redis is still
    frozen, well within the lease, instead of waiting on a reply that never comes (RQ's own
    timeout is minutes). Once Redis answers again the campaign ends, each person mailed once."""
    processes = chaos.launch(CLAIM_LEASE_SECONDS=LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare()
    held: list[int] = []
    gave_up: list[float] = []

    def stall() -> bool:
        chaos.redis.pause()
        try:
            claimed = claimed_rows(audience)
            if not claimed:
                return False  # between two batches: a stall now would test nothing
            held.append(claimed)
            began = time.monotonic()
            wait_for(
                lambda: claimed_rows(audience) == 0,
                2 * LEASE,
                "the workers to give up their claims while Redis is frozen",
                step=0.2,
            )
            gave_up.append(time.monotonic() - began)
            # Frozen for three leases in all: whatever a worker still held would be settled by
            # now, and nothing it gave up may be sent twice once Redis answers.
            time.sleep(max(0.0, 3 * LEASE - (time.monotonic() - began)))
        finally:
            chaos.redis.resume()
        return True

    seconds = run(audience, chaos.relay, processes, [(len(audience.eligible) // 4, stall)], TIMEOUT)
    assert held and gave_up, "Redis was never frozen with a claim held"
    result = tally("redis stalled (SIGSTOP) 3x lease", audience, chaos.relay, seconds, faults=1)
    chaos.record(result)
    assert_exactly_once(result)
