"""Recipient-domain groups: which mailbox provider a recipient's domain belongs to, the group's
limits, and how long it backs off after it answers 421 or 451 (docs/relays.md).

A provider judges a sender by everything it receives from it, across its domains: gmail.com
and googlemail.com are one Gmail, yahoo.com and yahoo.com.vn one Yahoo. So limits and backoff
hold per group, not per domain. Built-in groups exist without limits (they still back off);
RELAY_GROUPS sets their limits, replaces their domains or adds groups.

Pure: the Redis side (the windows, the backoff marks) is notifier/delivery/relays.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from notifier.domain.relays import RelayConfigError, _number, named

# "yahoo.*" is the label yahoo under any suffix: yahoo.com, yahoo.com.vn, yahoo.co.uk.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?:\.\*)?")
_FIELDS = frozenset({"name", "domains", "per_second", "per_minute", "per_hour", "max_connections"})
_MAX_GROUPS = 32  # the take's script names a row's group by one character (see relays.take)
_MAX_DOMAINS = 200
_LIMIT = 10_000_000

BUILT_IN: dict[str, tuple[str, ...]] = {
    "gmail": ("gmail.com", "googlemail.com"),
    "yahoo": ("yahoo.*", "ymail.com", "rocketmail.com"),
    "microsoft": ("outlook.*", "hotmail.*", "live.*", "msn.com"),
    # Vietnam's own mailbox providers: VNPT (vnn.vn and its regions), Viettel, FPT.
    "vn": (
        "vnn.vn",
        "hn.vnn.vn",
        "hcm.vnn.vn",
        "vnpt.vn",
        "viettel.com.vn",
        "fpt.vn",
        "fpt.com.vn",
    ),
}

# After a 421 or 451 a group rests BACKOFF_FIRST_MS, twice that after the next one while the
# rests follow each other, up to BACKOFF_MOST_MS; a batch that reaches the group without one
# ends the streak (docs/relays.md "Domain groups").
BACKOFF_FIRST_MS = 2_000
BACKOFF_MOST_MS = 600_000
THROTTLING_CODES = frozenset({421, 451})


@dataclass(frozen=True, slots=True)
class DomainGroup:
    name: str
    domains: tuple[str, ...]
    per_second: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None
    max_connections: int | None = None  # batches sending to the group at once, all workers

    def limits(self) -> tuple[int, int, int]:
        """(per second, per minute, per hour), 0 for no limit: the window script's arguments."""
        return (self.per_second or 0, self.per_minute or 0, self.per_hour or 0)


def parse_groups(text: str) -> tuple[DomainGroup, ...]:
    """The built-in groups with RELAY_GROUPS applied: a JSON list of objects with a name,
    limits and, for a new group (or to replace a built-in's), its domains."""
    groups = {name: DomainGroup(name, domains) for name, domains in BUILT_IN.items()}
    if text.strip():
        for index, item in enumerate(_items(text)):
            group = _group(index, item, groups)
            groups[group.name] = group
    _check_together(tuple(groups.values()))
    return tuple(groups.values())


def _items(text: str) -> list:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise RelayConfigError(f"RELAY_GROUPS: not JSON: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise RelayConfigError("RELAY_GROUPS: must be a non-empty JSON list of groups")
    return raw


def _group(index: int, item: dict, known: dict[str, DomainGroup]) -> DomainGroup:
    name = named(f"RELAY_GROUPS[{index}]", item, _FIELDS)
    where = f"RELAY_GROUPS {name!r}"
    domains = item.get("domains")
    if domains is None:
        if name not in known:
            raise RelayConfigError(f"{where}: domains is missing (only built-in groups have them)")
        domains = list(known[name].domains)
    if (
        not isinstance(domains, list)
        or not 1 <= len(domains) <= _MAX_DOMAINS
        or not all(isinstance(d, str) and _DOMAIN.fullmatch(d) for d in domains)
    ):
        raise RelayConfigError(
            f"{where}: domains must be a list of 1-{_MAX_DOMAINS} lower-case domains "
            '(such as "gmail.com", or "yahoo.*" for any ending)'
        )
    return replace(
        DomainGroup(name, tuple(dict.fromkeys(domains))),
        per_second=_number(where, item, "per_second", None, _LIMIT),
        per_minute=_number(where, item, "per_minute", None, _LIMIT),
        per_hour=_number(where, item, "per_hour", None, _LIMIT),
        max_connections=_number(where, item, "max_connections", None, 10_000),
    )


def _check_together(groups: tuple[DomainGroup, ...]) -> None:
    if len(groups) > _MAX_GROUPS:
        raise RelayConfigError(
            f"RELAY_GROUPS: at most {_MAX_GROUPS} groups, the built-in ones included"
        )
    owner: dict[str, str] = {}
    for group in groups:
        for domain in group.domains:
            if domain in owner and owner[domain] != group.name:
                raise RelayConfigError(
                    f"RELAY_GROUPS: {domain!r} is in both {owner[domain]!r} and {group.name!r}"
                )
            owner[domain] = group.name


class GroupIndex:
    """Which group a recipient's domain is in: exact domains first, then "label.*" ones."""

    def __init__(self, groups: tuple[DomainGroup, ...]) -> None:
        self.groups = groups
        self._exact: dict[str, int] = {}
        self._prefixes: list[tuple[str, int]] = []
        for number, group in enumerate(groups):
            for domain in group.domains:
                if domain.endswith(".*"):
                    self._prefixes.append((domain[:-1], number))
                else:
                    self._exact[domain] = number

    def number_of(self, address: str) -> int | None:
        """The index in `groups` of the address's group, None when it is in none."""
        domain = address.rpartition("@")[2].lower().rstrip(".")
        number = self._exact.get(domain)
        if number is not None:
            return number
        for prefix, number in self._prefixes:
            if domain.startswith(prefix) and len(domain) > len(prefix):
                return number
        return None

    def group_of(self, address: str) -> DomainGroup | None:
        number = self.number_of(address)
        return None if number is None else self.groups[number]


def backoff_ms(level: int) -> int:
    """The rest after the `level`-th 421/451 in a row (1-based): doubling, capped."""
    return min(BACKOFF_FIRST_MS * 2 ** min(max(level, 1) - 1, 30), BACKOFF_MOST_MS)


def throttles(code: int | None) -> bool:
    """Whether an SMTP reply asks the sender to slow down for the whole domain."""
    return code in THROTTLING_CODES
