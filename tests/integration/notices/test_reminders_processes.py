"""Reminders with real processes: two `notifier scheduler --once` at the same moment make each
reminder once, and a worker killed with its notice claimed leaves it to the next one; the SMTP
server gets each reminder exactly once. Real time here (the processes read the real clock):
the step is chosen so that its moment has just passed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from notifier.domain.reminders import zone_of
from notifier.infra.extensions import db
from notifier.models import Notice, NoticeStatus, Reminder, utcnow
from notifier.processes.scheduler import tick
from tests.integration.helpers import drain
from tests.integration.notices.reminder_steps import customer, hold, renewal_schedule
from tests.integration.test_api_support import smtp
from tests.integration.workers import worker_env
from tests.smtp_server import SmtpTestServer

__all__ = ["smtp"]  # the fixture
PEOPLE = 3


def notifier(*args: str, env: dict[str, str]) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("notifier")), *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def statuses() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notice.status).order_by(Notice.id)))


def test_two_scheduler_processes_and_a_killed_worker_send_each_reminder_once(
    app: Flask, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    local = utcnow().astimezone(zone_of("Asia/Ho_Chi_Minh"))
    # 08:00 local (the end of the quiet hours) today, or yesterday before it: passed, not missed.
    day = local.date() if local.hour >= 8 else local.date() - timedelta(days=1)
    renewal_schedule([-7], hour=8)
    for n in range(PEOPLE):
        customer(f"khach{n}@example.com", ref=f"KH-{n}")
        hold(f"D-{n}", day + timedelta(days=7), ref=f"KH-{n}")

    env = worker_env(app, tmp_path)
    schedulers = [notifier("scheduler", "--once", env=env) for _ in range(2)]
    for process in schedulers:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, out.decode(errors="replace")[-2000:]
    assert len(db.session.scalars(select(Reminder.id)).all()) == PEOPLE
    assert statuses() == [NoticeStatus.QUEUED] * PEOPLE

    # A relay that accepts the connection and never greets: the worker claims a notice, waits
    # for the greeting, and is killed there.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    stuck = dict(env, SMTP_URL=f"smtp://127.0.0.1:{silent.getsockname()[1]}")
    worker = notifier("worker", env=stuck)
    try:
        deadline = time.monotonic() + 60
        while NoticeStatus.SENDING not in statuses():
            assert time.monotonic() < deadline, "the worker never claimed a notice"
            time.sleep(0.1)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        silent.close()

    deadline = time.monotonic() + 120
    while statuses() != [NoticeStatus.SENT] * PEOPLE:
        assert time.monotonic() < deadline, statuses()
        tick(utcnow())  # the recovery gives the dead worker's claim back, then it is queued
        drain(app)
        time.sleep(0.5)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        f"khach{n}@example.com" for n in range(PEOPLE)
    ]
