"""Several SMTP relays: their settings, which of them may carry a piece of mail, in what order,
and the arithmetic of their sliding windows (docs/relays.md).

Pure: the Redis side (the windows' counts, the relays' health) is notifier/delivery/relays.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# Used in Redis keys and /metrics labels: short, and nothing that needs quoting.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# What may be pinned: a kind of mail, or a campaign purpose as "purpose:<key>".
KINDS = ("campaign", "notice", "system")
_PIN = re.compile(r"(campaign|notice|system|purpose:[A-Za-z0-9_.-]{1,64})")
_FIELDS = frozenset(
    {"name", "url", "weight", "max_connections", "per_second", "per_minute", "per_hour", "pinned"}
    | {"fallback", "warmup"}
)
# The windows, in milliseconds, and the fields that limit them.
WINDOWS = (("per_second", 1_000), ("per_minute", 60_000), ("per_hour", 3_600_000))
# Each window is counted in SLOTS slots and one more: see window_slots. 50: at most 2 % of
# throughput lost (20 lost 5 %: bench/relays.py), for about 0.1 ms more Lua a take.
SLOTS = 50
_MAX_LIMIT = 10_000_000
_MAX_WEIGHT = 1_000_000
_MAX_RELAYS = 32
_MAX_PLAN_DAYS = 365  # a warm-up plan of a year at most
_PLAN_FIELDS = frozenset({"start", "daily"})
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class RelayConfigError(ValueError):
    """RELAYS is not a valid list of relays; the message names the relay and the field."""


@dataclass(frozen=True, slots=True)
class Warmup:
    """A relay's warm-up plan: at most daily[0] messages on the start day, daily[1] the next,
    and so on; daily[0] on each day before the start; no warm-up limit once the list ends. Days
    are calendar days in the profile's time zone (the caller reads today there: `local_day`)."""

    start: date
    daily: tuple[int, ...]

    def day(self, today: date) -> int:
        """The plan's day today: 1 on the start day, len(daily) on its last; 0 or less before
        the start, more than len(daily) after the end."""
        return (today - self.start).days + 1

    def allowance(self, today: date) -> int | None:
        """The most the relay may carry today; None: the plan has ended, no warm-up limit."""
        day = self.day(today)
        if day > len(self.daily):
            return None
        return self.daily[max(day, 1) - 1]


def local_day(now: datetime, zone: tzinfo) -> date:
    """Today in the zone (the profile's), at the aware moment `now`."""
    return now.astimezone(zone).date()


def next_midnight(now: datetime, zone: tzinfo) -> datetime:
    """The start of the next calendar day in the zone, as an aware UTC moment: when a warm-up
    allowance renews. (Where a clock skips midnight, the moment the day begins.)"""
    tomorrow = local_day(now, zone) + timedelta(days=1)
    return datetime.combine(tomorrow, time(), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Relay:
    name: str
    url: str
    weight: int = 1  # 0: only the mail pinned to it
    max_connections: int | None = None
    per_second: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None
    pinned: tuple[str, ...] = ()
    fallback: str | None = None  # where its pinned mail goes while it is down
    warmup: Warmup | None = None  # a daily volume ramp (docs/relays.md, "Warm-up plans")

    def limits(self) -> tuple[int, int, int]:
        """(per second, per minute, per hour), 0 for no limit: the window script's arguments."""
        return (self.per_second or 0, self.per_minute or 0, self.per_hour or 0)

    @property
    def limited(self) -> bool:
        return any(self.limits())


def parse_relays(text: str) -> tuple[Relay, ...]:
    """RELAYS as a JSON list of objects; () when empty. RelayConfigError names the problem."""
    if not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise RelayConfigError(f"RELAYS: not JSON: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise RelayConfigError("RELAYS: must be a non-empty JSON list of relays")
    if len(raw) > _MAX_RELAYS:
        raise RelayConfigError(f"RELAYS: at most {_MAX_RELAYS} relays")
    relays = tuple(_relay(index, item) for index, item in enumerate(raw))
    _check_together(relays)
    return relays


def _relay(index: int, item: dict) -> Relay:
    name = named(f"RELAYS[{index}]", item, _FIELDS)
    where = f"RELAYS {name!r}"
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        raise RelayConfigError(f"{where}: url is missing")
    pinned = item.get("pinned", [])
    if not isinstance(pinned, list) or not all(
        isinstance(p, str) and _PIN.fullmatch(p) for p in pinned
    ):
        raise RelayConfigError(
            f"{where}: pinned must be a list of {', '.join(KINDS)} or purpose:<key>"
        )
    fallback = item.get("fallback")
    if fallback is not None and not isinstance(fallback, str):
        raise RelayConfigError(f"{where}: fallback must be a relay's name")
    weight = _number(where, item, "weight", 1, _MAX_WEIGHT, low=0)
    return Relay(
        name=name,
        url=url.strip(),
        weight=weight if weight is not None else 1,
        max_connections=_number(where, item, "max_connections", None, 10_000),
        per_second=_number(where, item, "per_second", None, _MAX_LIMIT),
        per_minute=_number(where, item, "per_minute", None, _MAX_LIMIT),
        per_hour=_number(where, item, "per_hour", None, _MAX_LIMIT),
        pinned=tuple(dict.fromkeys(pinned)),
        fallback=fallback,
        warmup=_warmup(where, item.get("warmup")),
    )


def _warmup(where: str, raw: object) -> Warmup | None:
    """The optional `warmup` field: {"start": "YYYY-MM-DD", "daily": [n1, n2, ...]}."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RelayConfigError(f'{where}: warmup must be an object {{"start", "daily"}}')
    unknown = sorted(str(key) for key in raw if key not in _PLAN_FIELDS)
    if unknown:
        raise RelayConfigError(f"{where}: warmup has an unknown field {unknown[0]!r}")
    start = raw.get("start")
    try:
        if not isinstance(start, str) or not _DAY.fullmatch(start):
            raise ValueError(start)
        day = date.fromisoformat(start)
    except ValueError:
        raise RelayConfigError(f"{where}: warmup.start must be a date YYYY-MM-DD") from None
    daily = raw.get("daily")
    if not isinstance(daily, list) or not 1 <= len(daily) <= _MAX_PLAN_DAYS:
        raise RelayConfigError(
            f"{where}: warmup.daily must be a list of 1 to {_MAX_PLAN_DAYS} daily limits"
        )
    for n in daily:
        # bool is an int in Python: `true` must not mean a day of 1.
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_LIMIT:
            raise RelayConfigError(
                f"{where}: warmup.daily must hold whole numbers from 1 to {_MAX_LIMIT}"
            )
    return Warmup(day, tuple(daily))


def parse_limits(text: str) -> tuple[int, int, int]:
    """RELAY_LIMITS: the windows of all relays together, as a JSON object of per_second,
    per_minute and per_hour; (0, 0, 0) (none) when empty."""
    if not text.strip():
        return (0, 0, 0)
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise RelayConfigError(f"RELAY_LIMITS: not JSON: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise RelayConfigError(
            "RELAY_LIMITS: must be an object of per_second, per_minute, per_hour"
        )
    unknown = sorted(str(key) for key in raw if key not in dict(WINDOWS))
    if unknown:
        raise RelayConfigError(f"RELAY_LIMITS: unknown field {unknown[0]!r}")
    limits = [_number("RELAY_LIMITS", raw, field, None, _MAX_LIMIT) or 0 for field, _ in WINDOWS]
    return (limits[0], limits[1], limits[2])


def _number(
    where: str, item: dict, key: str, default: int | None, high: int, low: int = 1
) -> int | None:
    value = item.get(key, default)
    if value is None:
        return None
    # bool is an int in Python: `true` must not mean a limit of 1.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RelayConfigError(f"{where}: {key} must be a whole number from {low} to {high}")
    return value


def _check_together(relays: tuple[Relay, ...]) -> None:
    names = [relay.name for relay in relays]
    for relay in relays:
        if names.count(relay.name) > 1:
            raise RelayConfigError(f"RELAYS: the name {relay.name!r} is used twice")
    pinned_to: dict[str, str] = {}
    for relay in relays:
        if relay.fallback is not None:
            if relay.fallback not in names or relay.fallback == relay.name:
                raise RelayConfigError(
                    f"RELAYS {relay.name!r}: fallback {relay.fallback!r} is not another relay"
                )
            if not relay.pinned:
                raise RelayConfigError(
                    f"RELAYS {relay.name!r}: a fallback is only for pinned mail: pin some"
                )
        for pin in relay.pinned:
            if pin in pinned_to:
                raise RelayConfigError(
                    f"RELAYS: {pin!r} is pinned to both {pinned_to[pin]!r} and {relay.name!r}"
                )
            pinned_to[pin] = relay.name
    if "campaign" not in pinned_to and not any(relay.weight for relay in relays):
        raise RelayConfigError("RELAYS: every weight is 0: campaign mail has no relay")


def candidates(
    relays: Sequence[Relay], kind: str, purpose: str | None, draw: Callable[[], float]
) -> list[Relay]:
    """The relays that may carry this mail, in the order to try them.

    Mail pinned (by its purpose first, then its kind) goes only to its relay, then to that
    relay's fallback if it names one. Other mail goes to the relays of non-zero weight, in a
    weighted random order (each next relay drawn with probability weight / remaining weight):
    taking the first of them that is up and has room is a weighted choice among those."""
    by_name = {relay.name: relay for relay in relays}
    for pin in (f"purpose:{purpose}" if purpose else None, kind):
        for relay in relays:
            if pin in relay.pinned:
                return [relay] + ([by_name[relay.fallback]] if relay.fallback else [])
    pool = [relay for relay in relays if relay.weight > 0]
    order: list[Relay] = []
    while pool:
        point = draw() * sum(relay.weight for relay in pool)
        for index, relay in enumerate(pool):
            point -= relay.weight
            if point < 0 or index == len(pool) - 1:
                order.append(pool.pop(index))
                break
    return order


def window_slots(now_ms: int, window_ms: int) -> tuple[int, int]:
    """The slots counted for a window at `now_ms`: (first, current), SLOTS + 1 of them.

    A window of W ms is kept as counts per slot of W / SLOTS ms. Any W ms of real time touch at
    most SLOTS + 1 consecutive slots, and every take counts the SLOTS + 1 slots up to its own,
    so no real window holds more than the limit; the price is that a slot's count is kept up
    to W / SLOTS longer than a true sliding window would (1 / (SLOTS + 1) of throughput
    at most)."""
    size = window_ms // SLOTS
    current = now_ms // size
    return current - SLOTS, current


def room(limit: int, counts: dict[int, int], now_ms: int, window_ms: int) -> int:
    """How many more sends the window allows now (the same arithmetic as the Redis script)."""
    first, current = window_slots(now_ms, window_ms)
    used = sum(count for slot, count in counts.items() if first <= slot <= current)
    return max(limit - used, 0)


def named(where: str, item: object, fields: frozenset[str]) -> str:
    """The name of one entry of a JSON list of settings (a relay, a group), after checking it
    is an object with only known fields and a name fit for Redis keys and metric labels."""
    if not isinstance(item, dict):
        raise RelayConfigError(f"{where}: must be an object")
    unknown = sorted(str(key) for key in item if key not in fields)
    if unknown:
        raise RelayConfigError(f"{where}: unknown field {unknown[0]!r}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RelayConfigError(
            f"{where}: name must be 1-32 of a-z, 0-9, _ and -, starting with a letter or digit"
        )
    return name


def check_pins(relays: Sequence[Relay], purposes: Collection[str]) -> None:
    """A relay pinned to a purpose the profile does not have would carry nothing, and that
    purpose's mail would go elsewhere unseen (a typo): refused at start-up, naming both."""
    for relay in relays:
        for pin in relay.pinned:
            key = pin.removeprefix("purpose:")
            if pin.startswith("purpose:") and key not in purposes:
                raise RelayConfigError(
                    f"RELAYS {relay.name!r}: pinned: {key!r} is not a purpose of the profile "
                    f"({', '.join(sorted(purposes))})"
                )


def served(relays: Sequence[Relay]) -> list[tuple[str, str, str | None]]:
    """What /readyz judges: each kind of mail, then each purpose a relay is pinned to (campaign
    mail of that purpose has its own candidates), as (label, kind, purpose)."""
    purposes = sorted({pin.removeprefix("purpose:") for relay in relays for pin in relay.pinned
                       if pin.startswith("purpose:")})  # fmt: skip
    return [(kind, kind, None) for kind in KINDS] + [
        (f"purpose:{key}", "campaign", key) for key in purposes
    ]


def unserved(relays: Sequence[Relay], answering: set[str]) -> dict[str, list[str]]:
    """The kinds of mail (and pinned purposes: `served`) none of whose candidate relays is
    among `answering`, each with its candidates (/readyz).

    Campaign mail asks for the relays of non-zero weight (or its pinned relay and fallback),
    notices and system mail for theirs: a kind with no relay that answers waits entirely, while
    a relay down among others only moves its share to them."""
    waiting = {}
    for label, kind, purpose in served(relays):
        # The draw orders the candidates; only which they are matters here.
        names = [relay.name for relay in candidates(relays, kind, purpose, lambda: 0.0)]
        if not answering.intersection(names):
            waiting[label] = names
    return waiting
