"""The chaos suite's fixtures, and the figures table it prints at the end of a run.

Every scenario records one line (sent, duplicates, losses, unknowns, seconds to complete); the
table is printed after the run, with the fault-free time measured in the same run, and appended
as JSON lines to the file NOTIFIER_CHAOS_FIGURES names (`make chaos` sets it).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask

from tests.chaos.harness import LONG, RELAY_DELAY, Processes, RedisServer, Tally
from tests.chaos.relay import Relay
from tests.conftest import configure

FIGURES: list[dict[str, object]] = []
FAULT_FREE = "fault-free"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay(reply_delay=RELAY_DELAY)
    server.start()
    yield server
    server.stop()


@dataclass
class Chaos:
    """One scenario's world: the app pointed at the relay and the test's own Redis, and the
    processes it launched (stopped at the end, whatever happened)."""

    app: Flask
    tmp_path: Path
    relay: Relay
    redis: RedisServer
    launched: list[Processes] = field(default_factory=list)

    def launch(self, **settings: object) -> Processes:
        """Start the processes; the campaign waits for them (`harness.run`), so the test can
        seed its contacts while they start up."""
        configure(self.app, **settings)
        processes = Processes(
            self.app, self.tmp_path, **{key: str(value) for key, value in settings.items()}
        )
        self.launched.append(processes)
        return processes

    def record(self, result: Tally) -> None:
        FIGURES.append({"form": "long" if LONG else "fast", **result.row()})


@pytest.fixture
def chaos(app: Flask, tmp_path: Path, relay: Relay, own_redis: RedisServer) -> Iterator[Chaos]:
    configure(app, SMTP_URL=relay.url, REDIS_URL=own_redis.url)
    world = Chaos(app, tmp_path, relay, own_redis)
    yield world
    for processes in world.launched:
        processes.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    fault_free = [row["seconds"] for row in FIGURES if row["scenario"] == FAULT_FREE]
    reference = fault_free[-1] if fault_free else None
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    columns = ("scenario", "faults", "sent", "duplicates", "losses", "unknowns", "seconds")
    write = terminalreporter.write_line
    terminalreporter.section("chaos figures")
    write(" | ".join(columns) + " | fault-free seconds")
    for row in FIGURES:
        write(" | ".join(str(row[column]) for column in columns) + f" | {reference}")
    target = os.environ.get("NOTIFIER_CHAOS_FIGURES")
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            for row in FIGURES:
                out.write(json.dumps({"at": stamp, **row, "fault_free_seconds": reference}) + "\n")
