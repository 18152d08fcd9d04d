"""The relays' shared state in Redis: their sliding windows and their health (docs/relays.md).

A batch asks once for up to N sends (`take`): one Lua script walks the batch's candidate relays
in their weighted order and, on the first one that is up and has room in all of its windows,
counts k <= N sends and answers k; the batch sends those k and defers the rest. So a batch costs
one round trip, never one a message. The clock is Redis's own (TIME), the same for every worker
on every machine.

The windows are an optimisation of the relays' own limits, not the ledger: if Redis restarts and
loses them, the next takes find the windows empty, which allows at most one more window's worth
(a burst), never a second send of a row: who was sent is in the database.

Nothing here runs when RELAYS is empty: SMTP_URL alone is one relay with no limits, and its
send path makes no Redis call of its own.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import redis

from notifier.domain.relays import (
    SLOTS,
    WINDOWS,
    Relay,
    candidates,
    local_day,
    next_midnight,
    parse_limits,
    parse_relays,
    window_slots,
)
from notifier.infra.clock import utcnow
from notifier.infra.context import profile, settings
from notifier.infra.metrics import RELAY_DEFERRED_KEY, RELAY_SENT_KEY

PREFIX = "notifier:relay:"
SENT_KEY, DEFERRED_KEY = RELAY_SENT_KEY, RELAY_DEFERRED_KEY
BURST = 5  # this many 4xx (or lost sessions) in a row on one relay: it is down for a while

# Per candidate: KEYS its down flag, then one hash per window it must respect (its own, then the
# shared ones: all relays together); ARGV (after want and SLOTS) its window count m, then m pairs
# of window length (ms) and limit. So a shared limit, such as one for a domain group, is just
# one more window key. Returns {candidate (1-based, 0: none), granted, wait ms, the first
# candidate's refusal: "down", or the key of the window that was full}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local want = tonumber(ARGV[1])
local slots = tonumber(ARGV[2])
local arg = 3
local key_at = 1
local first_why = ''
local best_wait = -1
local c = 0
while arg <= #ARGV do
  c = c + 1
  local m = tonumber(ARGV[arg])
  local down_key = KEYS[key_at]
  local windows = {}
  for w = 1, m do
    windows[w] = {KEYS[key_at + w], tonumber(ARGV[arg + 2 * w - 1]), tonumber(ARGV[arg + 2 * w])}
  end
  arg = arg + 1 + 2 * m
  key_at = key_at + 1 + m
  local why = ''
  local wait = 0
  local room = want
  local down = redis.call('PTTL', down_key)
  if down > 0 then
    why = 'down'
    wait = down
    room = 0
  else
    for w = 1, m do
      local key, length, limit = windows[w][1], windows[w][2], windows[w][3]
      local size = length / slots
      local current = math.floor(now / size)
      local fields = redis.call('HGETALL', key)
      local used = 0
      local oldest = current
      for i = 1, #fields, 2 do
        local slot = tonumber(fields[i])
        if slot < current - slots then
          redis.call('HDEL', key, fields[i])
        else
          used = used + tonumber(fields[i + 1])
          if slot < oldest then oldest = slot end
        end
      end
      local free = limit - used
      if free < room then room = free end
      if free <= 0 then
        local frees = (oldest + slots + 1) * size - now
        if frees > wait then wait = frees end
        if why == '' then why = key end
      end
    end
  end
  if room > 0 then
    for w = 1, m do
      local key, length = windows[w][1], windows[w][2]
      redis.call('HINCRBY', key, math.floor(now / (length / slots)), room)
      redis.call('PEXPIRE', key, length * 2)
    end
    return {c, room, 0, first_why}
  end
  if c == 1 then first_why = why end
  if best_wait < 0 or wait < best_wait then best_wait = wait end
end
return {0, 0, best_wait, first_why}
"""


@dataclass(frozen=True, slots=True)
class Grant:
    """The answer to a batch: `count` sends on `relay`, or none and why (throttled or down),
    with the wait until the first candidate may have room."""

    relay: Relay | None
    count: int
    wait: float  # seconds
    reason: (
        str  # of the rows not granted: "throttled:<relay>", "relay_down:<relay>", "warmup:<relay>"
    )
    # The least wait of rows not granted: half the shortest window. Were they back when the
    # first slot frees (a twentieth of it), each claim would carry a few sends and defer the
    # rest again: claims and deferrals churning the database for nothing.
    pace: float = 0.0


def relays() -> tuple[Relay, ...]:
    """The configured relays; () when RELAYS is empty (then SMTP_URL is the one relay)."""
    return _parsed(settings().RELAYS)


@functools.lru_cache(maxsize=4)
def _parsed(text: str) -> tuple[Relay, ...]:
    return parse_relays(text)


@functools.lru_cache(maxsize=4)
def _parsed_limits(text: str) -> tuple[int, int, int]:
    return parse_limits(text)


def probe_seconds() -> float:
    return float(settings().RELAY_PROBE_SECONDS)


def _keys(relay: Relay) -> list[str]:
    base = PREFIX + relay.name
    return [base + ":down", *(f"{base}:w{field}" for field, _ in WINDOWS)]


ALL = "*all"  # the windows of all relays together: no relay's name can start with "*"
# A warm-up plan's day is one more window, its key named by the local date, so its count starts
# at 0 each day in the profile's zone. Two days long: its 21 slots (of 2.4 h) then hold every
# send of a local day even of 25 hours (a clock set back), and the key lives 4 days.
WARMUP_MS = 2 * 86_400_000


def _warmup_key(relay: Relay, day: date) -> str:
    return f"{PREFIX}{relay.name}:warmup:{day:%Y%m%d}"


def local_today() -> date:
    """Today in the profile's time zone, on this machine's clock (as renewal notices read it)."""
    return local_day(utcnow(), ZoneInfo(profile().default_time_zone))


def _to_midnight() -> float:
    """Seconds until a second after the next local midnight, when each warm-up allowance
    renews (the second: rows deferred on a `now` read a little earlier still come back after
    midnight, not a moment before it, to be refused again)."""
    now = utcnow()
    return (next_midnight(now, ZoneInfo(profile().default_time_zone)) - now).total_seconds() + 1


def _windows(relay: Relay, shared: tuple[int, int, int]) -> list[tuple[str, int, int]]:
    """(key, length ms, limit) of each window a send on this relay counts in: today's warm-up
    allowance first (a refusal names the longest wait: warmup:<relay>), then the shared ones,
    so that a refusal names them when all relays together are at their limit."""
    own = zip(_keys(relay)[1:], WINDOWS, relay.limits(), strict=True)
    every = zip(_keys(Relay(ALL, ""))[1:], WINDOWS, shared, strict=True)
    day = []
    if relay.warmup is not None:
        today = local_today()
        allowance = relay.warmup.allowance(today)
        day = [(_warmup_key(relay, today), WARMUP_MS, allowance)] if allowance else []
    return day + [(key, ms, limit) for key, (_, ms), limit in (*every, *own) if limit]


def take(
    conn: redis.Redis,
    kind: str,
    purpose: str | None,
    want: int,
    draw: Callable[[], float] = random.random,
) -> Grant:
    """Ask for up to `want` sends of this kind of mail; one script, one round trip."""
    order = candidates(relays(), kind, purpose, draw)
    if not order:
        return Grant(None, 0, probe_seconds(), f"relay_down:{kind}")
    shared = shared_limits()
    keys: list[str] = []
    args: list[int | str] = [want, SLOTS]
    shortest: list[int] = []
    for relay in order:
        windows = _windows(relay, shared)
        keys += [_keys(relay)[0], *(key for key, _, _ in windows)]
        args += [len(windows), *(n for _, ms, limit in windows for n in (ms, limit))]
        # The pace is of the windows that slide; a warm-up day's rows wait for its midnight.
        shortest.append(min((ms for _, ms, _ in windows if ms != WARMUP_MS), default=0))
    index, count, wait_ms, why = conn.eval(_TAKE, len(keys), *keys, *args)
    why = why.decode() if isinstance(why, bytes) else str(why)
    if index:
        pace = shortest[int(index) - 1] / 2000
        chosen = order[int(index) - 1]
        # No other window: only the day's allowance can have held the rest back; with no
        # other candidate either, the rest waits for midnight (else the next take may go on).
        held = f"warmup:{chosen.name}" if chosen.warmup and not pace else ""
        wait = _to_midnight() if held and len(order) == 1 else 0.0
        return Grant(chosen, int(count), wait, held, pace)
    if why == "down":
        reason = f"relay_down:{order[0].name}"
    elif ":warmup:" in why:
        reason = f"warmup:{order[0].name}"
    else:
        reason = "throttled:all" if why.startswith(PREFIX + ALL) else f"throttled:{order[0].name}"
    wait = max(int(wait_ms), 50) / 1000
    if any(relay.warmup for relay in order):  # a used-up day frees at local midnight, no later
        wait = min(wait, _to_midnight())
    return Grant(None, 0, wait, reason, shortest[0] / 2000)


def mark_down(conn: redis.Redis, relay: Relay) -> None:
    """Down for the probe interval: when it ends, the next batch that draws it tries a
    connection, which is the probe; a relay still refusing is marked down again."""
    conn.set(PREFIX + relay.name + ":down", str(time.time()), px=int(probe_seconds() * 1000))


def count(conn: redis.Redis, sent: dict[str, int], deferred: dict[str, int]) -> None:
    """The /metrics counters, once a batch: sends per relay, deferrals per reason."""
    pipe = conn.pipeline(transaction=False)
    for name, number in sent.items():
        pipe.hincrby(SENT_KEY, name, number)
    for reason, number in deferred.items():
        pipe.hincrby(DEFERRED_KEY, reason, number)
    pipe.execute()


@dataclass(frozen=True, slots=True)
class RelayState:
    """What the admin settings page shows of a relay."""

    relay: Relay
    down_for: float  # seconds, 0 when up
    counts: tuple[int | None, int | None, int | None]  # in each limited window now
    day: date | None = None  # today in the profile's zone, when the relay has a warm-up plan
    today: int = 0  # sent today against its warm-up allowance


Counts = tuple[int | None, int | None, int | None]


def states(conn: redis.Redis) -> list[RelayState]:
    """Each relay's health and the counts in its windows now (read-only)."""
    now_ms = _now_ms(conn)
    shown = []
    for relay in relays():
        keys = _keys(relay)
        down = conn.pttl(keys[0])
        counts = _counts(conn, keys[1:], relay.limits(), now_ms)
        day = local_today() if relay.warmup else None
        today = sum(int(v) for v in conn.hvals(_warmup_key(relay, day))) if day else 0
        shown.append(RelayState(relay, max(int(down), 0) / 1000, counts, day, today))
    return shown


def shared_limits() -> tuple[int, int, int]:
    """RELAY_LIMITS: (per second, per minute, per hour) of all relays together, 0: none."""
    return _parsed_limits(settings().RELAY_LIMITS)


def shared_counts(conn: redis.Redis) -> Counts:
    """The counts now in RELAY_LIMITS's windows (all relays together); None where unlimited."""
    return _counts(conn, _keys(Relay(ALL, ""))[1:], shared_limits(), _now_ms(conn))


def _now_ms(conn: redis.Redis) -> int:
    seconds, micros = conn.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _counts(
    conn: redis.Redis, keys: list[str], limits: tuple[int, int, int], now_ms: int
) -> Counts:
    counts: list[int | None] = []
    for (_, window_ms), key, limit in zip(WINDOWS, keys, limits, strict=True):
        if not limit:
            counts.append(None)
            continue
        first, current = window_slots(now_ms, window_ms)
        held = conn.hgetall(key)
        counts.append(sum(int(v) for k, v in held.items() if first <= int(k) <= current))
    return (counts[0], counts[1], counts[2])
