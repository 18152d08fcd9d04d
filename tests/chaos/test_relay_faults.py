"""The relay misbehaves: it stalls for twice the claim lease, drops the connection after a
message's data before its reply, or refuses for now (10 % 421, 5 % 451)."""

from __future__ import annotations

import threading

import pytest

from tests.chaos.conftest import FAULT_FREE, Chaos
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
)

pytestmark = [pytest.mark.slow, needs_postgres]
STALL_LEASE = 10  # seconds: the stall lasts twice that, and the test stays short


def test_the_relay_stalled_for_twice_the_lease(chaos: Chaos) -> None:
    processes = chaos.launch(CLAIM_LEASE_SECONDS=STALL_LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare()
    resumed = threading.Event()

    def stall() -> None:
        chaos.relay.stall()

        def resume() -> None:
            chaos.relay.resume()
            resumed.set()

        threading.Timer(2 * STALL_LEASE, resume).start()

    seconds = run(audience, chaos.relay, processes, [(len(audience.eligible) // 4, stall)], TIMEOUT)
    assert resumed.is_set(), "the campaign finished while the relay was stalled"
    # One stall, but each worker had a message on the wire when the relay stopped answering:
    # its content reached the relay, which queues it when it wakes. Those are unknown.
    workers = len(processes.workers)
    result = tally(
        "relay stalled 2x lease", audience, chaos.relay, seconds, faults=1, unknown_budget=workers
    )
    chaos.record(result)
    assert_exactly_once(result)


def test_the_relay_drops_the_connection_after_data_before_its_reply(chaos: Chaos) -> None:
    processes = chaos.launch(CLAIM_LEASE_SECONDS=LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare(NOTICES)
    relay = chaos.relay
    step = len(audience.eligible) // 6
    # Three campaign messages, two notices and a system mail: each is queued and its sender
    # never learns it.
    faults = [
        (step, lambda: relay.drop_after_data("d")),
        (step, lambda: relay.drop_after_data("n")),
        (step * 2, lambda: relay.drop_after_data("d")),
        (step * 2, lambda: relay.drop_after_data("s")),
        (step * 3, lambda: relay.drop_after_data("n")),
        (step * 4, lambda: relay.drop_after_data("d")),
    ]
    seconds = run(audience, relay, processes, faults, TIMEOUT)
    assert relay.drops_left() == 0 and len(relay.dropped) == 6, relay.dropped
    result = tally("relay drops after DATA x6", audience, relay, seconds, faults=6)
    chaos.record(result)
    assert_exactly_once(result)


def test_transient_replies_cost_seconds_not_minutes(chaos: Chaos) -> None:
    """10 % 421 and 5 % 451 (at MAIL, RCPT, DATA or the end of the data): the campaign ends
    within twice the fault-free time of the same campaign in the same run, plus 30 s. The
    product's own retry settings: no test-only shortcut."""
    processes = chaos.launch(CLAIM_LEASE_SECONDS=LEASE, BATCH_SIZE=BATCH_SIZE)
    audience = prepare()
    relay = chaos.relay
    fault_free = run(audience, relay, processes, [], TIMEOUT)
    baseline = tally(FAULT_FREE, audience, relay, fault_free, faults=0)
    chaos.record(baseline)
    assert_exactly_once(baseline)

    # The same people again (the promotions purpose allows two a week), now through a relay
    # that refuses for now.
    relay.forget()
    relay.rate_421, relay.rate_451 = 0.10, 0.05
    seconds = run(audience, relay, processes, [], TIMEOUT)
    transient = sum(relay.transient_replies.values())
    result = tally(
        "relay 10% 421 + 5% 451", audience, relay, seconds, faults=transient, unknown_budget=0
    )
    chaos.record(result)
    assert relay.transient_replies[421] and relay.transient_replies[451]
    assert_exactly_once(result)
    assert seconds <= 2 * fault_free + 30, f"{seconds:.1f} s, fault-free {fault_free:.1f} s"
