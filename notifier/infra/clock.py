"""The one clock: aware UTC. The domain takes `now` as an argument; entry points read it here."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
