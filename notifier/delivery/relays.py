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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

import redis

from notifier.domain.domain_groups import (
    DomainGroup,
    GroupIndex,
    backoff_ms,
    parse_groups,
)
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

# One call a batch. ARGV: SLOTS, the hold (ms) and holder of a connection slot, the batch's rows
# as one character each (its domain group's number + 64, or "." for none: see take), the
# number of groups G, then per group and per candidate relay: its connection limit (0: none),
# its window count m and m pairs of window length (ms) and limit. KEYS, in the same order: per
# group its backoff mark, its connection set and its m windows; per candidate its down mark, its
# connection set and its m windows (its own, then the shared ones). A limited group lets through
# at most its room of the batch's rows (in order); the first candidate that is up, has a free
# connection and room takes k of those; the picked rows are counted in every window they touch.
# (When no candidate has room for all, the one with the most room takes what it has.)
# Returns {candidate (1-based, 0: none), k, wait ms, the first candidate's refusal ("down",
# "busy" or the key of the window that was full), the rows picked ("1"/"0" each), then per
# group its refusal and wait}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slots = tonumber(ARGV[1])
local hold = tonumber(ARGV[2])
local holder = ARGV[3]
local rows = ARGV[4]
local ng = tonumber(ARGV[5])
local arg = 6
local key_at = 1

local function read(limit_at, key_base)
  local m = tonumber(ARGV[limit_at + 1])
  local item = {mark = KEYS[key_base], conns = KEYS[key_base + 1], most = tonumber(ARGV[limit_at]),
                windows = {}}
  for w = 1, m do
    item.windows[w] = {KEYS[key_base + 1 + w], tonumber(ARGV[limit_at + 2 * w]),
                       tonumber(ARGV[limit_at + 2 * w + 1])}
  end
  arg = limit_at + 2 + 2 * m
  key_at = key_base + 2 + m
  return item
end

-- room (<= want), wait ms, why ('' when there is room for all of want)
local function room_of(item, want)
  local down = redis.call('PTTL', item.mark)
  if down > 0 then return 0, down, 'down' end
  if item.most > 0 then
    redis.call('ZREMRANGEBYSCORE', item.conns, '-inf', now)
    if not redis.call('ZSCORE', item.conns, holder)
       and redis.call('ZCARD', item.conns) >= item.most then
      return 0, 500, 'busy'
    end
  end
  local room, wait, why, full = want, 0, '', ''
  for w = 1, #item.windows do
    local key, length, limit = item.windows[w][1], item.windows[w][2], item.windows[w][3]
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
      if full == '' then full = key end
    end
    if free < want and why == '' then why = key end
  end
  if room < 0 then room = 0 end
  if full ~= '' then why = full end
  return room, wait, why
end

local function count_in(item, n)
  for w = 1, #item.windows do
    local key, length = item.windows[w][1], item.windows[w][2]
    redis.call('HINCRBY', key, math.floor(now / (length / slots)), n)
    redis.call('PEXPIRE', key, length * 2)
  end
  if item.most > 0 then
    redis.call('ZADD', item.conns, now + hold, holder)
    redis.call('PEXPIRE', item.conns, hold * 2)
  end
end

local groups = {}
for g = 1, ng do groups[g] = read(arg, key_at) end
local wants = {}
for i = 1, #rows do
  local g = string.byte(rows, i) - 64
  if g >= 1 then wants[g] = (wants[g] or 0) + 1 end
end
local told = {}
local left = {}
for g = 1, ng do
  local room, wait, why = room_of(groups[g], wants[g] or 0)
  left[g] = room
  told[#told + 1] = why
  told[#told + 1] = wait
end
local want = 0
local through = {}
for i = 1, #rows do
  local g = string.byte(rows, i) - 64
  through[i] = g < 1 or left[g] > 0
  if through[i] then
    want = want + 1
    if g >= 1 then left[g] = left[g] - 1 end
  end
end

local first_why = ''

local function grant(c, relay, room)
  local picked = {}
  local taken = {}
  local k = room
  for i = 1, #rows do
    if through[i] and k > 0 then
      picked[i] = '1'
      k = k - 1
      local g = string.byte(rows, i) - 64
      if g >= 1 then taken[g] = (taken[g] or 0) + 1 end
    else
      picked[i] = '0'
    end
  end
  count_in(relay, room)
  for g = 1, ng do
    if taken[g] then count_in(groups[g], taken[g]) end
  end
  return {c, room, 0, first_why, table.concat(picked), unpack(told)}
end

-- The first candidate with room for all is taken (a weighted choice among those); when none
-- has, the one with the most room (a partial grant defers the rest of the batch).
local best_wait = -1
local best, best_c, best_room = nil, 0, 0
local c = 0
while arg <= #ARGV do
  c = c + 1
  local relay = read(arg, key_at)
  local room, wait, why = 0, 0, ''
  if want > 0 then room, wait, why = room_of(relay, want) end
  if room >= want and want > 0 then return grant(c, relay, room) end
  if room > best_room then best, best_c, best_room = relay, c, room end
  if c == 1 then first_why = why end
  if best_wait < 0 or wait < best_wait then best_wait = wait end
end
if best then return grant(best_c, best, best_room) end
if want == 0 then best_wait = 0 end
return {0, 0, best_wait, first_why, string.rep('0', #rows), unpack(told)}
"""

# Where a row's domain group is told to the script: "." for none, else chr(64 + its number).
_NO_GROUP = "."


@dataclass(frozen=True, slots=True)
class Grant:
    """The answer to a batch: `count` sends on `relay`, or none and why (throttled or down),
    with the wait until the first candidate may have room. `picked` says which of the batch's
    rows may leave (the first `count` when no row is in a domain group); `held` gives, for a
    row's group that held some of its rows back, the reason and the wait."""

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
    picked: tuple[bool, ...] = ()
    held: dict[str, tuple[str, float]] = field(default_factory=dict)  # group -> (reason, wait)
    groups: tuple[DomainGroup | None, ...] = ()  # each row's group
    holder: str = ""


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
    *,
    addresses: Sequence[str] = (),
    holder: str = "",
) -> Grant:
    """Ask for up to `want` sends of this kind of mail; one script, one round trip. Given the
    batch's `addresses` (then want is their number), their domain groups' limits, connections
    and backoff hold too; `holder` names the batch in the connection sets (released by
    `release`)."""
    order = candidates(relays(), kind, purpose, draw)
    if not order:
        return Grant(None, 0, probe_seconds(), f"relay_down:{kind}")
    index = group_index()
    numbers = [index.number_of(address) for address in addresses]
    present = sorted({n for n in numbers if n is not None})
    slot_of = {number: position for position, number in enumerate(present, start=1)}
    rows = "".join(_NO_GROUP if n is None else chr(64 + slot_of[n]) for n in numbers)
    rows = rows or _NO_GROUP * want
    keys: list[str] = []
    args: list[int | str] = [SLOTS, hold_ms(), holder or "-", rows, len(present)]
    for number in present:
        group = index.groups[number]
        windows = _group_windows(group)
        keys += [*_group_keys(group), *(key for key, _, _ in windows)]
        args += [group.max_connections or 0, len(windows)]
        args += [n for _, ms, limit in windows for n in (ms, limit)]
    shared = shared_limits()
    shortest: list[int] = []
    for relay in order:
        windows = _windows(relay, shared)
        keys += [_keys(relay)[0], f"{PREFIX}{relay.name}:conns", *(key for key, _, _ in windows)]
        args += [relay.max_connections or 0, len(windows)]
        args += [n for _, ms, limit in windows for n in (ms, limit)]
        # The pace is of the windows that slide; a warm-up day's rows wait for its midnight.
        shortest.append(min((ms for _, ms, _ in windows if ms != WARMUP_MS), default=0))
    reply = conn.eval(_TAKE, len(keys), *keys, *args)
    chosen, granted, wait_ms, why, picked = reply[:5]
    held = _held([index.groups[n] for n in present], reply[5:])
    groups = tuple(None if n is None else index.groups[n] for n in numbers)
    flags = tuple(flag == ord("1") for flag in picked) if addresses else ()
    if chosen:
        pace = shortest[int(chosen) - 1] / 2000
        relay = order[int(chosen) - 1]
        # No other window: only the day's allowance can have held the rest back; with no
        # other candidate either, the rest waits for midnight (else the next take may go on).
        warmed = f"warmup:{relay.name}" if relay.warmup and not pace else ""
        wait = _to_midnight() if warmed and len(order) == 1 else 0.0
        return Grant(relay, int(granted), wait, warmed, pace, flags, held, groups, holder)
    why = why.decode() if isinstance(why, bytes) else str(why)
    if why == "down":
        reason = f"relay_down:{order[0].name}"
    elif why == "busy":
        reason = f"busy:{order[0].name}"
    elif ":warmup:" in why:
        reason = f"warmup:{order[0].name}"
    else:
        reason = "throttled:all" if why.startswith(PREFIX + ALL) else f"throttled:{order[0].name}"
    wait = max(int(wait_ms), 50) / 1000
    if any(relay.warmup for relay in order):  # a used-up day frees at local midnight, no later
        wait = min(wait, _to_midnight())
    if groups and all(group is not None and group.name in held for group in groups):
        wait = 0.0  # the relays were not asked: every row waits for its group (`held`)
    return Grant(None, 0, wait, reason, shortest[0] / 2000, flags, held, groups, holder)


def _held(groups: list[DomainGroup], told: list) -> dict[str, tuple[str, float]]:
    """The groups that held rows back: their reason (backoff after a 421/451, or their own
    limit) and wait in seconds."""
    held = {}
    for group, why, wait_ms in zip(groups, told[0::2], told[1::2], strict=True):
        why = why.decode() if isinstance(why, bytes) else str(why)
        if why:
            kind = "backoff" if why == "down" else "group"
            pace = min((ms for _, ms, _ in _group_windows(group)), default=0) / 2000
            held[group.name] = (f"{kind}:{group.name}", max(int(wait_ms) / 1000, pace, 0.05))
    return held


def hold_ms() -> int:
    """How long a batch holds a connection slot unless it releases it: its claim's lease, after
    which a dead worker's claim is settled by the recovery anyway."""
    return int(settings().CLAIM_LEASE_SECONDS * 1000)


def group_index() -> GroupIndex:
    return _indexed(settings().RELAY_GROUPS)


@functools.lru_cache(maxsize=4)
def _indexed(text: str) -> GroupIndex:
    return GroupIndex(parse_groups(text))


def _group_keys(group: DomainGroup) -> list[str]:
    base = f"{PREFIX}group:{group.name}"
    return [base + ":backoff", base + ":conns"]


def _group_windows(group: DomainGroup) -> list[tuple[str, int, int]]:
    base = f"{PREFIX}group:{group.name}"
    windows = zip(WINDOWS, group.limits(), strict=True)
    return [(f"{base}:w{name}", ms, limit) for (name, ms), limit in windows if limit]


# A 421/451 from a group: rest it, longer each time the rests follow each other (the level
# lives as long as the longest rest, so a quiet group starts again from the first step).
_BACK_OFF = """
if redis.call('PTTL', KEYS[1]) > 0 then return 0 end
local level = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[#ARGV]) * 2)
local rest = tonumber(ARGV[math.min(level, #ARGV)])
redis.call('SET', KEYS[1], level, 'PX', rest)
return rest
"""


def back_off(conn: redis.Redis, group: DomainGroup) -> float:
    """Rest the group after it answered 421 or 451; the seconds of the rest, 0 when it was
    already resting (several workers seeing the same 421 raise it once)."""
    base = f"{PREFIX}group:{group.name}"
    steps = [backoff_ms(level) for level in range(1, 21)]
    return int(conn.eval(_BACK_OFF, 2, base + ":backoff", base + ":level", *steps)) / 1000


def calm(pipe: redis.client.Pipeline, group: DomainGroup) -> None:
    """A batch reached the group without a 421/451: its next rest starts from the first step."""
    pipe.delete(f"{PREFIX}group:{group.name}:level")


def release(
    pipe: redis.client.Pipeline, relay: Relay, groups: Sequence[DomainGroup], holder: str
) -> None:
    """Give back the connection slots a batch held (on its relay and its rows' groups)."""
    if relay.max_connections:
        pipe.zrem(f"{PREFIX}{relay.name}:conns", holder)
    for group in groups:
        if group.max_connections:
            pipe.zrem(_group_keys(group)[1], holder)


def mark_down(conn: redis.Redis, relay: Relay) -> None:
    """Down for the probe interval. The scheduler probes it meanwhile (relay_probe.py) and
    clears the mark once it answers; else, when the mark ends, the next batch that draws it
    tries a connection, and a relay still refusing is marked down again."""
    conn.set(PREFIX + relay.name + ":down", str(time.time()), px=int(probe_seconds() * 1000))


@dataclass(frozen=True, slots=True)
class DownMark:
    """A relay marked down now: the seconds left on its mark, and the mark itself (its value),
    so that only this mark is cleared, never a newer one a batch set since."""

    relay: Relay
    left: float
    value: bytes


def down_marks(conn: redis.Redis) -> list[DownMark]:
    """The relays marked down now, the mark ending soonest first: one round trip for all."""
    listed = relays()
    if not listed:
        return []
    pipe = conn.pipeline(transaction=False)
    for relay in listed:
        pipe.pttl(_keys(relay)[0])
        pipe.get(_keys(relay)[0])
    answers = pipe.execute()
    marks = [
        DownMark(relay, int(left) / 1000, value)
        for relay, left, value in zip(listed, answers[::2], answers[1::2], strict=True)
        if int(left) > 0 and value is not None
    ]
    return sorted(marks, key=lambda mark: mark.left)


# Deletes the mark only if it is still the one read: a batch may have marked the relay down
# again (a newer failure) while it was being probed.
_CLEAR = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1], KEYS[2]) end
return 0
"""


def clear_mark(conn: redis.Redis, mark: DownMark) -> bool:
    """The relay carries mail again at once, its 4xx run over (it answered the probe); False
    when its mark changed since it was read."""
    streak = f"{PREFIX}{mark.relay.name}:streak"
    return bool(conn.eval(_CLEAR, 2, _keys(mark.relay)[0], streak, mark.value))


def count(conn: redis.Redis, sent: dict[str, int], deferred: dict[str, int]) -> None:
    """The /metrics counters, once a batch: sends per relay, deferrals per reason."""
    pipe = conn.pipeline(transaction=False)
    count_in(pipe, sent, deferred)
    pipe.execute()


def count_in(pipe: redis.client.Pipeline, sent: dict[str, int], deferred: dict[str, int]) -> None:
    for name, number in sent.items():
        if number:
            pipe.hincrby(SENT_KEY, name, number)
    for reason, number in deferred.items():
        pipe.hincrby(DEFERRED_KEY, reason, number)


STREAK_SECONDS = 60  # a 4xx run with no further 4xx for this long is over


def failed_in_a_row(conn: redis.Redis, relay: Relay) -> int:
    """One more 4xx (or lost session) of the relay: its run over all workers, so a relay that
    fails a little for each of several workers is still seen failing (BURST)."""
    key = f"{PREFIX}{relay.name}:streak"
    pipe = conn.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, STREAK_SECONDS)
    return int(pipe.execute()[0])


def answered(pipe: redis.client.Pipeline, relay: Relay) -> None:
    """The relay accepted or refused a message: its 4xx run is over."""
    pipe.delete(f"{PREFIX}{relay.name}:streak")


@dataclass(frozen=True, slots=True)
class RelayState:
    """What the admin settings page shows of a relay."""

    relay: Relay
    down_for: float  # seconds, 0 when up
    counts: tuple[int | None, int | None, int | None]  # in each limited window now
    day: date | None = None  # today in the profile's zone, when the relay has a warm-up plan
    today: int = 0  # sent today against its warm-up allowance
    connections: int = 0  # batches holding one of its connection slots now


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
        held = int(conn.zcount(f"{PREFIX}{relay.name}:conns", now_ms, "+inf"))
        shown.append(RelayState(relay, max(int(down), 0) / 1000, counts, day, today, held))
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


@dataclass(frozen=True, slots=True)
class GroupState:
    """What the admin settings page shows of a domain group."""

    group: DomainGroup
    resting_for: float  # seconds left of its rest after a 421/451, 0: none
    counts: Counts
    connections: int  # batches holding one of its connection slots now


def group_states(conn: redis.Redis) -> list[GroupState]:
    """Each domain group's rest, window counts and connections now (read-only)."""
    now_ms = _now_ms(conn)
    shown = []
    for group in group_index().groups:
        base = f"{PREFIX}group:{group.name}"
        resting = max(int(conn.pttl(_group_keys(group)[0])), 0) / 1000
        keys = [f"{base}:w{name}" for name, _ in WINDOWS]
        counts = _counts(conn, keys, group.limits(), now_ms)
        held = int(conn.zcount(_group_keys(group)[1], now_ms, "+inf"))
        shown.append(GroupState(group, resting, counts, held))
    return shown
