"""Redis attacked mid-send, twice per campaign: flushed, its clients' connections killed, restarted
without persistence. The database is the truth, so nothing is lost or sent twice."""

from __future__ import annotations

import pytest

from tests.chaos.conftest import Chaos
from tests.chaos.harness import (
    BATCH_SIZE,
    LEASE,
    TIMEOUT,
    assert_exactly_once,
    needs_postgres,
    prepare,
    run,
    tally,
)

pytestmark = [pytest.mark.slow, needs_postgres]


@pytest.mark.parametrize("fault", ["flushdb", "client_kill", "restart_without_persistence"])
def test_redis_faults_mid_send_lose_and_duplicate_nothing(chaos: Chaos, fault: str) -> None:
    processes = chaos.launch(CLAIM_LEASE_SECONDS=LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare()
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
