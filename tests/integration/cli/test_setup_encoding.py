"""`notifier setup` on a PostgreSQL database that can't hold Vietnamese text: a clear refusal
naming the fix, in Vietnamese and English, and no table created."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import SECRET

NOTIFIER = str(Path(sys.executable).with_name("notifier"))
SERVER = os.environ.get("NOTIFIER_TEST_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")


def _reachable() -> bool:
    try:
        psycopg.connect(f"{SERVER}/postgres", connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


pytestmark = pytest.mark.skipif(not _reachable(), reason="needs a PostgreSQL server")


@pytest.fixture
def ascii_database() -> Iterator[str]:
    name = f"notifier_ascii_{secrets.token_hex(4)}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0"
            " LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    yield name
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_setup_refuses_a_sql_ascii_database_and_writes_nothing(
    ascii_database: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{ascii_database}",
        "SECRET_KEY": SECRET,
        "NOTIFIER_INSTANCE_PATH": str(tmp_path),
    }
    result = subprocess.run(
        [NOTIFIER, "setup"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "uses the SQL_ASCII encoding; notifier needs UTF8" in result.stderr
    assert f"createdb -E UTF8 -T template0 {ascii_database}" in result.stderr
    assert "dùng bảng mã SQL_ASCII; notifier cần UTF8" in result.stderr
    with psycopg.connect(f"{SERVER}/{ascii_database}") as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)
