"""The relays as the admin settings page shows them: limits, health, window counts (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from notifier.delivery import relays
from notifier.domain.relays import Relay
from notifier.infra.queues import redis_connection
from notifier.infra.redis_conn import REDIS_FAULTS


@dataclass(frozen=True)
class RelayRow:
    name: str
    address: str  # scheme://host:port: never the password
    weight: int
    max_connections: int | None
    connections: int | None  # batches holding a connection slot now; None: Redis did not answer
    limits: tuple[int | None, int | None, int | None]  # per second, minute, hour
    counts: tuple[int | None, int | None, int | None] | None  # now; None: Redis did not answer
    down_for: float | None  # seconds left of its rest; 0: up; None: unknown
    pinned: tuple[str, ...]
    fallback: str | None
    warmup: WarmupRow | None = None


@dataclass(frozen=True)
class WarmupRow:
    """A relay's warm-up plan today: which day of it, today's allowance and count."""

    start: date
    days: int  # the plan's length
    day: int  # today's: 1 on the start day; 0 or less before it; more than `days` after it
    allowance: int | None  # today's; None: the plan has ended
    count: int | None  # sent today; None: Redis did not answer


def _warmup_row(relay: Relay, state: relays.RelayState | None) -> WarmupRow | None:
    if relay.warmup is None:
        return None
    today = state.day if state and state.day else relays.local_today()
    return WarmupRow(
        start=relay.warmup.start,
        days=len(relay.warmup.daily),
        day=relay.warmup.day(today),
        allowance=relay.warmup.allowance(today),
        count=state.today if state else None,
    )


def relay_rows() -> list[RelayRow]:
    """Each relay of RELAYS, in its order; [] when SMTP_URL alone is the relay."""
    configured = relays.relays()
    if not configured:
        return []
    try:
        states = {state.relay.name: state for state in relays.states(redis_connection())}
    except REDIS_FAULTS:
        states = {}
    rows = []
    for relay in configured:
        parts = urlsplit(relay.url)
        state = states.get(relay.name)
        rows.append(
            RelayRow(
                name=relay.name,
                address=f"{parts.scheme}://{parts.hostname}:{parts.port or ''}",
                weight=relay.weight,
                max_connections=relay.max_connections,
                connections=state.connections if state else None,
                limits=(relay.per_second, relay.per_minute, relay.per_hour),
                counts=state.counts if state else None,
                down_for=state.down_for if state else None,
                pinned=relay.pinned,
                fallback=relay.fallback,
                warmup=_warmup_row(relay, state),
            )
        )
    return rows


@dataclass(frozen=True)
class SharedRow:
    """RELAY_LIMITS: the windows of all relays together, and their counts now."""

    limits: tuple[int | None, int | None, int | None]  # per second, minute, hour
    counts: tuple[int | None, int | None, int | None] | None  # None: Redis did not answer


def shared_row() -> SharedRow | None:
    """None unless RELAYS and RELAY_LIMITS are both set."""
    limits = relays.shared_limits()
    if not relays.relays() or not any(limits):
        return None
    try:
        counts = relays.shared_counts(redis_connection())
    except REDIS_FAULTS:
        counts = None
    return SharedRow(tuple(limit or None for limit in limits), counts)  # type: ignore[arg-type]


@dataclass(frozen=True)
class GroupRow:
    """A recipient-domain group: its domains, limits, counts now and whether it rests."""

    name: str
    domains: tuple[str, ...]
    max_connections: int | None
    connections: int | None  # holding a slot now; None: Redis did not answer
    limits: tuple[int | None, int | None, int | None]
    counts: tuple[int | None, int | None, int | None] | None
    resting_for: float | None  # seconds left of its rest after a 421/451; None: unknown


def group_rows() -> list[GroupRow]:
    """The domain groups (built-in and RELAY_GROUPS); [] when SMTP_URL alone is the relay."""
    if not relays.relays():
        return []
    try:
        states = {s.group.name: s for s in relays.group_states(redis_connection())}
    except REDIS_FAULTS:
        states = {}
    rows = []
    for group in relays.group_index().groups:
        state = states.get(group.name)
        rows.append(
            GroupRow(
                name=group.name,
                domains=group.domains,
                max_connections=group.max_connections,
                connections=state.connections if state else None,
                limits=(group.per_second, group.per_minute, group.per_hour),
                counts=state.counts if state else None,
                resting_for=state.resting_for if state else None,
            )
        )
    return rows
