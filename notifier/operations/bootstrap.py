"""Bring a database to the current schema and profile: used by setup, dev and tests."""

from __future__ import annotations

import psycopg
from flask import Flask
from flask_migrate import upgrade

from notifier.contacts.purposes import sync_purposes
from notifier.domain.errors import DomainError
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.notices.types import sync_notice_types


class DatabaseNotUtf8(DomainError):
    """A PostgreSQL database whose encoding can't hold Vietnamese text (SQL_ASCII, LATIN1...)."""


def prepare_database(app: Flask) -> None:
    with app.app_context():
        check_encoding()
        upgrade(directory=app.extensions["migrate"].directory)
        with unit_of_work():
            sync_purposes(profile())
            sync_notice_types(profile())


def check_encoding() -> None:
    """Refuse, before any migration, a PostgreSQL database that does not store UTF-8: names
    and consent texts are Vietnamese, and with a SQL_ASCII database the driver even gets bytes
    where SQLAlchemy expects text, so the check asks over a plain driver connection."""
    url = db.engine.url
    if url.get_backend_name() != "postgresql":
        return
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        name, encoding = connection.execute(
            "SELECT current_database(), pg_encoding_to_char(encoding) FROM pg_database"
            " WHERE datname = current_database()"
        ).fetchone() or ("?", "?")
    name, encoding = (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                      for v in (name, encoding))  # fmt: skip
    if encoding.upper() != "UTF8":
        raise DatabaseNotUtf8(
            f"database {name} uses the {encoding} encoding; notifier needs UTF8. "
            f"Create it with: createdb -E UTF8 -T template0 {name} / "
            f"Cơ sở dữ liệu {name} dùng bảng mã {encoding}; notifier cần UTF8. "
            f"Hãy tạo lại bằng: createdb -E UTF8 -T template0 {name}"
        )
