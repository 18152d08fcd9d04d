"""`notifier dev`: web, worker, scheduler, outbox and Redis on embedded defaults, in one command."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import click
import redis
from flask import Flask

from notifier.app import create_app
from notifier.domain.profile import ProfileError
from notifier.infra.config import ConfigError
from notifier.infra.extensions import db
from notifier.infra.hashing import generate_password, hash_secret
from notifier.infra.redis_conn import embedded_server, socket_url
from notifier.infra.settings import settings_of
from notifier.infra.unit_of_work import unit_of_work
from notifier.operations.bootstrap import prepare_database
from notifier.operations.demo import admin_account, load_demo
from notifier.processes.outbox import HOST, OutboxError, check_port_free, running_outbox

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
# `notifier <command>` in a child without relying on the console script being on PATH.
NOTIFIER = (sys.executable, "-c", "from notifier.cli import main; main()")
FLASK_RUN = (sys.executable, "-m", "flask", "--app", "notifier:create_app", "run")


@dataclass(frozen=True)
class Embedded:
    """What the children need to reach the embedded servers, and the pid of redis-server."""

    env: dict[str, str]
    pids: dict[str, int]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    reported: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_dev(port: int, demo: bool) -> None:
    """Start everything, print where to sign in, and stop everything on Ctrl-C or SIGTERM."""
    try:
        check_port_free(port)
    except OSError:
        raise click.ClickException(
            f"port {port} on {HOST} is already in use; choose another with --port"
        ) from None
    # SIGTERM takes the same path as Ctrl-C, so every exit runs the clean-up below; SIGINT is set
    # too because a shell starts background jobs with it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    app = _app()
    try:
        with ExitStack() as stack:
            _serve(app, port, demo, stack)
    except KeyboardInterrupt:
        click.echo("notifier dev stopped")


def _app() -> Flask:
    try:
        app = create_app({"DEV": True})
    except (ProfileError, ConfigError) as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    return app


def _serve(app: Flask, port: int, demo: bool, stack: ExitStack) -> None:
    embedded = _start_embedded(app, stack)
    prepare_database(app)
    # The children take seconds to import; the demo loads meanwhile.
    children = stack.enter_context(_children(embedded.env, port))
    with app.app_context():
        with unit_of_work():
            email, password = _fresh_admin_password()
            summary = load_demo() if demo else None
        if summary:
            click.echo(summary)
        db.session.remove()
    _wait_until_ready(port, children)
    _announce(app, port, (email, password), embedded, children)
    _supervise(children)


def _start_embedded(app: Flask, stack: ExitStack) -> Embedded:
    """Redis and the outbox, each only where no real server is configured."""
    embedded = Embedded(
        env={
            **os.environ,
            "NOTIFIER_INSTANCE_PATH": str(Path(app.instance_path).resolve()),
            "PYTHONUNBUFFERED": "1",
            "NOTIFIER_DEV": "true",
        },
        pids={},
    )
    if not settings_of(app).REDIS_URL:
        conn = stack.enter_context(_embedded_redis(Path(app.instance_path)))
        embedded.env["REDIS_URL"] = socket_url(conn)
        embedded.pids["redis-server"] = conn.pid
    if not settings_of(app).SMTP_URL:
        embedded.env["SMTP_URL"] = stack.enter_context(_outbox(app))
    return embedded


@contextmanager
def _embedded_redis(instance: Path) -> Iterator[Any]:
    conn = embedded_server(instance)
    try:
        yield conn
    finally:
        _shutdown_redis(conn)


def _shutdown_redis(conn: redis.Redis) -> None:
    pid = getattr(conn, "pid", 0)
    try:
        conn.shutdown(save=True)  # returns once the server has closed the connection
    except redis.RedisError as exc:
        click.echo(f"redis shutdown: {exc}", err=True)
    if pid and not _wait_gone(pid, STOP_TIMEOUT):
        os.kill(pid, signal.SIGKILL)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@contextmanager
def _outbox(app: Flask) -> Iterator[str]:
    try:
        with running_outbox(app) as outbox:
            yield outbox.url
    except OutboxError as exc:
        raise click.ClickException(
            f"{exc}; set NOTIFIER_OUTBOX_PORT=0 for any free port, or SMTP_URL for a real relay"
        ) from None


def _fresh_admin_password() -> tuple[str, str]:
    """A new password at every start, so the one printed always works; also lifts a lockout."""
    user = admin_account()
    password = generate_password()
    user.password_hash = hash_secret(password)
    user.active, user.failed_logins, user.locked_until = True, 0, None
    return user.email, password


@contextmanager
def _children(env: dict[str, str], port: int) -> Iterator[list[Child]]:
    commands = {
        "web": [*FLASK_RUN, "--host", HOST, "--port", str(port)],
        "worker": [*NOTIFIER, "worker"],
        "scheduler": [*NOTIFIER, "scheduler"],
    }
    children: list[Child] = []
    try:
        for name, command in commands.items():
            # Own process group: Ctrl-C reaches only us, and we stop each group as a whole.
            process = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603
            children.append(Child(name, process))
        yield children
    finally:
        _stop(children)


def _stop(children: list[Child]) -> None:
    # A second Ctrl-C must not cut the clean-up short and leave processes behind.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    click.echo("stopping " + ", ".join(child.name for child in children))
    for child in children:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"{child.name} did not stop in {STOP_TIMEOUT:.0f} s: killing it", err=True)
        # Whatever the leader left in its group goes too.
        _signal_group(child, signal.SIGKILL)
        child.process.wait()


def _signal_group(child: Child, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(child.pid, signum)


def _wait_until_ready(port: int, children: list[Child]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        _check_alive(children)
        if _login_page_answers(port):
            return
        time.sleep(0.2)
    raise click.ClickException(f"the web server did not answer within {READY_TIMEOUT:.0f} s")


def _login_page_answers(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/admin/login")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _check_alive(children: list[Child]) -> None:
    """Say once when a process ends; without the web server there is nothing left to use."""
    for child in children:
        status = child.process.poll()
        if status is None or child.reported:
            continue
        child.reported = True
        click.echo(f"{child.name} exited with status {status}", err=True)
        if child.name == "web":
            raise click.ClickException("the web server stopped; see its output above")


def _announce(
    app: Flask, port: int, login: tuple[str, str], embedded: Embedded, children: list[Child]
) -> None:
    email, password = login
    env = embedded.env
    pids = [f"{child.name} {child.pid}" for child in children]
    pids += [f"{name} {pid}" for name, pid in embedded.pids.items()]
    lines = [
        "",
        f"notifier dev is running ({app.extensions['notifier.profile'].name})",
        f"  admin:     http://{HOST}:{port}/admin/",
        f"  email:     {email}",
        f"  password:  {password}   (a new one at every start)",
        f"  smtp:      {env.get('SMTP_URL') or settings_of(app).SMTP_URL}",
        f"  redis:     {env.get('REDIS_URL') or settings_of(app).REDIS_URL}",
        f"  processes: {', '.join(pids)}",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    click.echo("\n".join(lines))


def _supervise(children: list[Child]) -> None:
    """Until Ctrl-C or SIGTERM (raised here as KeyboardInterrupt), watch the children."""
    while True:
        _check_alive(children)
        time.sleep(0.5)
