"""The bounce corpus read three ways: our parsers alone, flufl.bounce alone, and the combination.

python bench/bounce_compare.py > /tmp/table.md   (the tables in docs/bounces.md, "Two detectors")
"""

from __future__ import annotations

import email
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flufl.bounce import all_failures

from notifier.domain.bounces import Kind, Report, classify
from tests.bounce_samples import corpus

FAILED = (Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE)
RECOGNISED = (*FAILED, Kind.DELAYED, Kind.COMPLAINT)


@dataclass(frozen=True)
class Row:
    name: str
    ours: Report  # classify(raw, detectors=False)
    flufl: tuple[frozenset[str], frozenset[str]] | None  # (temporary, permanent); None: it raised
    chosen: Report  # classify(raw): what the product does

    @property
    def family(self) -> str:
        stem = self.name.removesuffix(".eml").removesuffix(".txt")
        return re.sub(r"_\d+$", "", stem) if "/" in stem else stem.split("_")[0]


def flufl_alone(raw: bytes) -> tuple[frozenset[str], frozenset[str]] | None:
    """flufl.bounce's public API as its documentation shows it, with no help from us."""
    try:
        temporary, permanent = all_failures(email.message_from_bytes(raw))
    except Exception:  # an IndexError on garbage bytes: see docs/bounces.md
        return None
    return _text(temporary), _text(permanent)


def _text(found: frozenset[bytes]) -> frozenset[str]:
    return frozenset(item.decode("ascii", "replace").lower() for item in found)


def recognised(report: Report) -> bool:
    return not report.malformed and any(item.kind in RECOGNISED for item in report.feedback)


def addresses(report: Report) -> frozenset[str]:
    return frozenset(item.recipient for item in report.feedback if item.recipient)


def rows() -> list[Row]:
    return [
        Row(name, classify(raw, detectors=False), flufl_alone(raw), classify(raw))
        for name, raw in corpus()
    ]


def describe(report: Report) -> str:
    if report.malformed:
        return f"rejected: {report.problem}"
    if not report.feedback:
        return report.kind.value
    seen: dict[tuple[str, str, str], None] = {}
    for item in report.feedback:
        status = f" {item.status}" if item.status else ""
        seen[(f"{item.kind.value}{status}", item.category, item.recipient or "no address")] = None
    return "; ".join(f"{kind} {category} `{rcpt}`" for kind, category, rcpt in seen)


def describe_flufl(found: tuple[frozenset[str], frozenset[str]] | None) -> str:
    if found is None:
        return "raised an exception"
    temporary, permanent = found
    if not (temporary or permanent):
        return "nothing"
    parts = [f"permanent {_list(permanent)}"] if permanent else []
    return "; ".join([*parts, f"temporary {_list(temporary)}"] if temporary else parts)


def _list(found: frozenset[str]) -> str:
    return ", ".join(f"`{address}`" for address in sorted(found))


def verdict(row: Row) -> str:
    flufl = row.flufl is not None and bool(row.flufl[0] or row.flufl[1])
    if not recognised(row.ours) and not flufl:
        return "neither: ours kept"
    if row.chosen == row.ours:
        return "ours" if not flufl or addresses(row.ours) >= _all(row) else "ours (flufl differs)"
    if recognised(row.ours):
        return "flufl's addresses, our verdict rules"
    return "flufl's addresses (ours found none)"


def _all(row: Row) -> frozenset[str]:
    return row.flufl[0] | row.flufl[1] if row.flufl else frozenset()


def family_table(found: list[Row]) -> str:
    lines = [
        "| family | samples | ours recognises | flufl.bounce recognises | both agree on addresses "
        "| combination recognises |",
        "|---|---|---|---|---|---|",
    ]
    families: dict[str, list[Row]] = {}
    for row in found:
        families.setdefault(row.family, []).append(row)
    for family, members in families.items():
        counts = Counter[str]()
        for row in members:
            counts["ours"] += recognised(row.ours)
            counts["flufl"] += bool(_all(row))
            counts["agree"] += bool(_all(row)) and addresses(row.ours) == _all(row)
            counts["chosen"] += recognised(row.chosen)
        lines.append(
            f"| {family} | {len(members)} | {counts['ours']} | {counts['flufl']} "
            f"| {counts['agree']} | {counts['chosen']} |"
        )
    return "\n".join(lines)


def sample_table(found: list[Row]) -> str:
    lines = [
        "| sample | ours alone | flufl.bounce alone | chosen (what notifier does) | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in found:
        cells = (row.name, describe(row.ours), describe_flufl(row.flufl), describe(row.chosen))
        lines.append("| " + " | ".join(cells) + f" | {verdict(row)} |")
    return "\n".join(lines)


def main() -> None:
    found = rows()
    total = Counter[str]()
    for row in found:
        total["ours"] += recognised(row.ours)
        total["flufl"] += bool(_all(row))
        total["chosen"] += recognised(row.chosen)
    print(
        f"{len(found)} samples: ours alone recognises {total['ours']}, flufl.bounce alone "
        f"{total['flufl']}, the combination {total['chosen']}.\n"
    )
    print(family_table(found) + "\n")
    print(sample_table(found))


if __name__ == "__main__":
    main()
