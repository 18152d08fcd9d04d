"""Per-module figures of the last `mutmut run`; fails below the floor (`make mutation`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mutmut.stats import status_by_exit_code

FLOOR = 0.95
CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}


def main() -> int:
    failing = 0
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        statuses = [
            status_by_exit_code[c]
            for c in json.loads(meta.read_text())["exit_code_by_key"].values()
        ]
        if not statuses:
            continue
        caught = sum(status in CAUGHT for status in statuses)
        share = caught / len(statuses)
        module = meta.relative_to("mutants").with_suffix("").as_posix()
        print(f"{module}: {caught}/{len(statuses)} caught ({share:.1%})")
        failing += share < FLOOR
    if failing:
        print(
            f"{failing} module(s) below {FLOOR:.0%}: `.venv/bin/mutmut results` lists the survivors"
        )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
