"""The operator: `notifier dev` starts everything; one Ctrl-C (SIGINT) stops all it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.acceptance.conftest import Running, free_port, fresh_database
from tests.acceptance.journeys import wait_until
from tests.acceptance.visitor import Visitor


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now alive, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone while we looked
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def _descendants(root: int) -> set[int]:
    parents = _parents()
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_notifier_dev_serves_and_a_ctrl_c_leaves_no_process_behind(tmp_path: Path) -> None:
    port = free_port()
    plain = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    plain.pop("REDIS_URL", None)  # dev starts its own embedded Redis
    plain.pop("SMTP_URL", None)  # and its own outbox
    env = {
        **plain,
        "DATABASE_URL": fresh_database(tmp_path),
        "NOTIFIER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NOTIFIER_OUTBOX_PORT": "0",
    }
    dev = Running(["dev", "--port", str(port)], env)
    try:
        base = f"http://127.0.0.1:{port}"
        visitor = Visitor(base)
        wait_until(lambda: _answers(visitor, "/healthz"), "/healthz answers", within=120)
        login = visitor.get("/admin/login")
        assert login.status == 200 and 'name="password"' in login.body
        # The children it announces (redis-server daemonizes away from it) and all they started.
        listed = dev.wait_for(r"processes: (.+)")[1]
        announced = {int(pid) for pid in re.findall(r"\b(\d+)\b", listed)}
        assert len(announced) == 4, listed  # web, worker, scheduler, redis-server
        started = announced | _descendants(dev.process.pid)
        for pid in announced:
            started |= _descendants(pid)
        assert all(_alive(p) for p in announced), listed

        dev.process.send_signal(signal.SIGINT)
        try:
            dev.process.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"notifier dev did not stop on SIGINT:\n{dev.output}")
        wait_until(lambda: not any(_alive(p) for p in started), "every child is gone", 20)
    finally:
        dev.stop()
    assert "notifier dev stopped" in dev.output, dev.output
    assert not [p for p in started if _alive(p)], dev.output


def _answers(visitor: Visitor, path: str) -> bool:
    try:
        return visitor.get(path).status == 200
    except OSError:
        time.sleep(0.3)
        return False
