"""The soft-bounce score of an address: each bounce adds one, the total halves every half-life."""

from __future__ import annotations

from datetime import datetime


def decayed(score: float, since: datetime, now: datetime, half_life_days: float) -> float:
    """A clock that runs backwards (skew between machines) never makes a score grow."""
    elapsed = max(0.0, (now - since).total_seconds()) / 86400
    return score * 0.5 ** (elapsed / half_life_days)


def next_score(score: float, since: datetime | None, now: datetime, half_life_days: float) -> float:
    base = 0.0 if since is None else decayed(score, since, now, half_life_days)
    return base + 1.0
