"""Every connection to the test database terminated mid-send (pg_terminate_backend), twice: the
workers' outcomes still reach the ledger once. The shared server is never restarted."""

from __future__ import annotations

import pytest

from notifier.infra.settings import settings_of
from tests.chaos.conftest import Chaos
from tests.chaos.harness import (
    BATCH_SIZE,
    LEASE,
    NOTICES,
    TIMEOUT,
    assert_exactly_once,
    needs_postgres,
    prepare,
    run,
    tally,
    terminate_connections,
)

pytestmark = [pytest.mark.slow, needs_postgres]


def test_postgresql_connections_terminated_mid_send(chaos: Chaos) -> None:
    processes = chaos.launch(CLAIM_LEASE_SECONDS=LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare(NOTICES)
    url = settings_of(chaos.app).DATABASE_URL
    ended: list[int] = []

    def terminate() -> None:
        ended.append(terminate_connections(url))

    eligible = len(audience.eligible)
    seconds = run(
        audience, chaos.relay, processes, [(eligible // 4, terminate), (eligible // 2, terminate)],
        TIMEOUT,
    )  # fmt: skip
    assert len(ended) == 2 and all(ended), f"sessions terminated: {ended}"
    result = tally("postgresql connections terminated x2", audience, chaos.relay, seconds, faults=2)
    chaos.record(result)
    assert_exactly_once(result)
