"""`notifier dev` as a user runs it: all embedded, sign in, send mail, Ctrl-C stops it all."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pyotp
import pytest

NOTIFIER = [sys.executable, "-c", "from notifier.cli import main; main()"]
READY_WITHIN = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def embedded_env(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.pop("SMTP_URL", None)
    # Port 0: tests running side by side must not fight over 8025.
    return {**env, "NOTIFIER_INSTANCE_PATH": str(instance), "NOTIFIER_OUTBOX_PORT": "0"}


class Output:
    """Collects a child's merged stdout and stderr as it arrives."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, process: subprocess.Popen[str], timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text)
            if found:
                return found
            assert process.poll() is None, f"notifier dev exited:\n{self.text}"
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.text}")


def sign_in(port: int, email: str, password: str) -> str:
    """Log in through the real forms, CSRF token included: the password, then (the demo admin's
    role requires it) the enrolment page's secret into an authenticator; return the page reached."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    base = f"http://127.0.0.1:{port}"
    form = opener.open(f"{base}/admin/login", timeout=10).read().decode()
    data = {"csrf_token": _csrf(form), "email": email, "password": password}
    page = opener.open(f"{base}/admin/login", urllib.parse.urlencode(data).encode(), timeout=10)
    assert page.status == 200 and page.url.endswith("/admin/two-factor/enrol"), page.url
    enrol = page.read().decode()
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', enrol)
    assert secret, enrol
    code = pyotp.TOTP(secret[1].replace(" ", "")).now()
    data = {"csrf_token": _csrf(enrol), "code": code}
    # Ten argon2 hashes of recovery codes: seconds on a busy machine, not a hang.
    page = opener.open(page.url, urllib.parse.urlencode(data).encode(), timeout=60)
    assert 'data-testid="recovery-codes"' in page.read().decode()
    page = opener.open(f"{base}/admin/", timeout=10)
    assert page.status == 200
    return str(page.url)


def _csrf(page: str) -> str:
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, page
    return token[1]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_notifier_dev_serves_signs_in_stores_mail_and_stops_everything(tmp_path: Path) -> None:
    port, instance = free_port(), tmp_path / "instance"
    started = time.monotonic()
    dev = subprocess.Popen(
        [*NOTIFIER, "dev", "--port", str(port)],
        env=embedded_env(instance),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Output(dev)
    try:
        output.wait_for("Press Ctrl-C to stop everything", dev, READY_WITHIN)
        ready_after = time.monotonic() - started
        text = output.text
        email = re.search(r"email:\s+(\S+)", text)[1]  # type: ignore[index]
        password = re.search(r"password:\s+(\S+)", text)[1]  # type: ignore[index]
        smtp_port = int(re.search(r"smtp:\s+smtp://127\.0\.0\.1:(\d+)", text)[1])  # type: ignore[index]
        listed = re.search(r"processes: (.*)", text)[1]  # type: ignore[index]
        pids = {name: int(pid) for name, pid in re.findall(r"([\w-]+) (\d+)", listed)}
        assert set(pids) == {"web", "worker", "scheduler", "redis-server"}
        assert email == "admin@dcnet.example.vn"
        assert sign_in(port, email, password).endswith("/admin/")
        with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
            smtp.sendmail("a@example.com", ["b@example.com"], "Subject: Chào\r\n\r\nx".encode())
        family = {p.pid for p in psutil.Process(dev.pid).children(recursive=True)}
        assert {pids["web"], pids["worker"], pids["scheduler"]} <= family
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=30) == 0, output.text
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
    leftovers = [pid for pid in family | set(pids.values()) if alive(pid)]
    assert leftovers == [], output.text
    assert "notifier dev stopped" in output.text
    with sqlite3.connect(instance / "notifier.sqlite3") as db:
        assert db.execute("SELECT subject FROM outbox_messages").fetchall() == [("Chào",)]
        assert db.execute("SELECT count(*) FROM contacts").fetchone() == (25,)
    print(f"notifier dev: login page served {ready_after:.1f} s after start")


def test_a_taken_port_is_reported_with_a_non_zero_exit(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*NOTIFIER, "dev", "--port", str(port)],
            env=embedded_env(tmp_path / "instance"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
