"""The product as separate OS processes on a fresh database: the real `notifier` command.

`product` runs `notifier setup` and `notifier demo load` (once per set of settings, copied for
each product after that), starts `notifier web` (gunicorn) and, when a test mails it,
`notifier inbound`, relays mail to an SMTP sink on a free loopback port and resolves DNS through
a local DNS server; tests go in only through HTTP, SMTP and the CLI.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from tests.dns_server import LocalDns
from tests.smtp_server import SmtpTestServer

NOTIFIER = str(Path(sys.executable).with_name("notifier"))
READY_WITHIN = 60.0
SECRET = secrets.token_hex(32)  # the processes run in production mode: a real secret


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Running:
    """A started `notifier` command whose merged output is collected as it arrives."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [NOTIFIER, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a Ctrl-C of the test run is not delivered twice
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            assert self.process.poll() is None, f"exited early:\n{self.output}"
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {READY_WITHIN} s:\n{self.output}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class Product:
    env: dict[str, str]
    base_url: str = ""
    inbound: int = 0  # the inbound receiver's port once started (inbound_port)
    running: list[Running] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        """Run one command to its end; a non-zero exit fails the test with its output."""
        done = subprocess.run(
            [NOTIFIER, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"notifier {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def deliver(self) -> None:
        """What a worker would do by now: send every queued mail to the relay."""
        self.cli("worker", "--burst")

    def get(self, url: str) -> str:
        with urllib.request.urlopen(url, timeout=15) as page:
            return str(page.read().decode())

    def start(self, *args: str) -> Running:
        """A long-running command, such as `worker` or `scheduler`, stopped with the product."""
        running = Running(list(args), self.env)
        self.running.append(running)
        return running

    def start_web(self) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.env["PUBLIC_BASE_URL"] = self.base_url
        web = Running(["web", "--bind", f"127.0.0.1:{port}", "--workers", "1"], self.env)
        self.running.append(web)
        deadline = time.monotonic() + READY_WITHIN
        while True:
            assert web.process.poll() is None, f"notifier web exited:\n{web.output}"
            try:
                self.get(f"{self.base_url}/healthz")
                return
            except OSError:
                assert time.monotonic() < deadline, f"web not ready:\n{web.output}"
                time.sleep(0.1)

    @property
    def inbound_port(self) -> int:
        """`notifier inbound`'s port, started on first use: only the refusal journeys mail it,
        and it costs every other product 2-3 s of CPU."""
        if not self.inbound:
            receiver = Running(["inbound", "--host", "127.0.0.1", "--port", "0"], self.env)
            self.running.append(receiver)
            found = receiver.wait_for(r"inbound SMTP receiver on [\d.]+:(\d+)")
            self.inbound = int(found[1])
        return self.inbound


def _server(url: str) -> tuple[sa.Engine, sa.URL]:
    target = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    return sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT"), target


def _plain(url: sa.URL) -> str:
    return url.render_as_string(hide_password=False).replace("+psycopg", "")


def _database(name: str, folder: Path, template: str | None = None) -> str:
    """A new SQLite file in `folder`, or a PostgreSQL database of that name beside the one
    DATABASE_URL names; a copy of `template` when one is given, else empty."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql")):
        path = folder / f"{name}.sqlite3"
        path.unlink(missing_ok=True)
        if template is not None:
            source = sqlite3.connect(template.removeprefix("sqlite:///"))
            with closing(source), closing(sqlite3.connect(path)) as copy:
                source.backup(copy)
        return f"sqlite:///{path}"
    server, target = _server(url)
    full = f"{target.database}_{name}"
    copied = f' TEMPLATE "{sa.engine.make_url(template).database}"' if template else ""
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{full}"{copied}'))
    server.dispose()
    return _plain(target.set(database=full))


def fresh_database(folder: Path) -> str:
    """An empty database of the product's own, for a test that runs `notifier setup` itself."""
    return _database("acceptance", folder)


class Prepared:
    """`notifier setup` and `notifier demo load`, run once per process for each set of
    settings and each day (the demo dates its data), then copied for every product that asks:
    the two commands cost each product 7-13 s, and the copy a tenth of a second."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="notifier-prepared-"))
        self.made: dict[tuple[object, ...], str] = {}
        atexit.register(self.drop)

    def copy(self, env: dict[str, str], settings: dict[str, str], folder: Path) -> str:
        key = (tuple(sorted(settings.items())), datetime.now(UTC).date())
        if key not in self.made:
            template = _database(f"prepared{len(self.made)}", self.folder)
            preparing = Product({**env, "DATABASE_URL": template})
            preparing.cli("setup")
            preparing.cli("demo", "load")
            self.made[key] = template
        return _database("acceptance", folder, template=self.made[key])

    def drop(self) -> None:
        postgres = [url for url in self.made.values() if url.startswith("postgres")]
        if postgres:
            server, _ = _server(postgres[0])
            with server.connect() as conn:
                for url in postgres:
                    name = sa.engine.make_url(url).database
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            server.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


PREPARED = Prepared()


@pytest.fixture
def dns() -> Iterator[LocalDns]:
    with LocalDns() as server:
        yield server


@pytest.fixture
def sink() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def relay() -> Iterator[SmtpTestServer]:
    """A relay of RELAYS beside SMTP_URL's sink, for the journeys that name relays."""
    with SmtpTestServer() as server:
        yield server


@contextmanager
def started(
    tmp_path: Path,
    redis_url: str,
    dns: LocalDns,
    sink: SmtpTestServer,
    settings: dict[str, str] | None = None,
) -> Iterator[Product]:
    """setup and demo load (a copy of what they made: Prepared) and web on a fresh database,
    inbound when first asked for; every process stops at the end.
    `settings` are more NOTIFIER_* variables for every process."""
    redis.Redis.from_url(redis_url).flushdb()
    plain = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env = {
        **plain,
        "REDIS_URL": redis_url,
        "SMTP_URL": sink.url,
        "SECRET_KEY": SECRET,
        "NOTIFIER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NOTIFIER_INBOUND_DNS_SERVERS": f'["{dns.address}"]',
        "DNS_RESOLVER": dns.address,  # the deliverability page asks it, never public DNS
        "NOTIFIER_LOG_FORMAT": "text",
        **(settings or {}),
    }
    env["DATABASE_URL"] = PREPARED.copy(env, settings or {}, tmp_path)
    running = Product(env)
    try:
        running.start_web()
        yield running
    finally:
        for process in running.running:
            process.stop()


@pytest.fixture
def product(
    tmp_path: Path, redis_url: str, dns: LocalDns, sink: SmtpTestServer
) -> Iterator[Product]:
    with started(tmp_path, redis_url, dns, sink) as running:
        yield running


# One started product per module keeps the suite fast; its tests share the sink below.
@pytest.fixture(scope="module")
def module_sink() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def module_product(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, module_sink: SmtpTestServer
) -> Iterator[Product]:
    with (
        LocalDns() as server,
        started(tmp_path_factory.mktemp("product"), redis_url, server, module_sink) as running,
    ):
        yield running
