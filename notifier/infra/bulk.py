"""Many rows in one statement: update each by id with its own values; match ids against a list.

The send loop writes an outcome for every message. As separate UPDATE statements (what an
executemany is, even pipelined) PostgreSQL parses, plans and runs each one: at thousands of
messages a second that is a good part of the database's time. One `UPDATE ... FROM unnest(...)`
per batch does the same work in one statement. SQLite runs in-process, where executemany is
already cheap, so it keeps that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import Any

from sqlalchemy import Column, Table, any_, bindparam, select, text, update
from sqlalchemy.dialects import postgresql

from notifier.infra.extensions import db

_PG = postgresql.dialect()
_SEQSCAN_OFF = text(
    "SELECT current_setting('enable_seqscan') || set_config('enable_seqscan', 'off', true)"
)


def among(column: Any, values: Iterable[Any]) -> Any:
    """`column IN values`; on PostgreSQL `column = ANY(array)`: one bound array instead of a
    parameter per value, which SQLAlchemy would expand and bind one by one (hundreds a batch)."""
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


@contextmanager
def planned_for_arrays() -> Iterator[None]:
    """Statements planned for the array they are given, each time, and by index: psycopg
    prepares a statement run five times, and PostgreSQL may then keep one generic plan, made
    without the array. A table filled since its last ANALYZE (a first bulk upsert) looked small
    then: the plan scans it all and compares each row with every id of the array, 640 ms a chunk
    of 1,000 at 20,000 rows. Planned each time it may still scan (hashing the array); with
    sequential scans discouraged, for this block only, it goes by index: at 100,000 stored rows
    (never analysed, on a loaded machine) the lookup took 34 ms a chunk instead of 41 and the
    UPDATE 49 instead of 74. On an error the caller's savepoint undoes the setting."""
    dbapi = db.session.connection().connection.dbapi_connection
    threshold = getattr(dbapi, "prepare_threshold", None)
    if threshold is None:  # SQLite, or psycopg already not preparing
        yield
        return
    dbapi.prepare_threshold = None  # type: ignore[union-attr]
    try:
        before = db.session.scalar(_SEQSCAN_OFF)
        yield
        setting = str(before).removesuffix("off")
        db.session.execute(text("SELECT set_config('enable_seqscan', :v, true)"), {"v": setting})
    finally:
        dbapi.prepare_threshold = threshold  # type: ignore[union-attr]


def update_by_id(model: Any, rows: Iterable[Mapping[str, Any]]) -> None:
    """UPDATE model SET <each row's columns> WHERE id = row['id'], for every row."""
    rows = list(rows)
    if not rows:
        return
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(update(model), rows)
        return
    shapes: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        shapes[tuple(sorted(row))].append(row)
    table: Table = model.__table__
    for keys, group in shapes.items():
        if keys != ("id",):
            db.session.execute(_statement(table, keys), _arrays(keys, group))


def update_owned_by_id(
    model: Any, rows: Iterable[Mapping[str, Any]], owner_column: str, owner: Any
) -> set[int]:
    """update_by_id for the rows whose `owner_column` still equals `owner`, in one statement a
    shape on PostgreSQL (the UPDATE locks what it changes, so whoever takes rows over waits for
    this transaction); returns the ids it changed."""
    rows = list(rows)
    if not rows:
        return set()
    table: Table = model.__table__
    if db.session.get_bind().dialect.name != "postgresql":
        owned = set(
            db.session.scalars(
                select(table.c.id).where(
                    table.c.id.in_([row["id"] for row in rows]), table.c[owner_column] == owner
                )
            )
        )
        kept = [row for row in rows if row["id"] in owned]
        if kept:
            db.session.execute(
                update(model).where(table.c[owner_column] == owner),
                kept,
                execution_options={"synchronize_session": None},
            )
        return owned
    shapes: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        shapes[tuple(sorted(row))].append(row)
    changed: set[int] = set()
    for keys, group in shapes.items():
        statement = _statement(table, keys, owner_column)
        changed.update(
            db.session.scalars(statement, {**_arrays(keys, group), "owner": owner}).all()
        )
    return changed


def insert_rows(model: Any, rows: Iterable[Mapping[str, Any]]) -> None:
    """INSERT many rows of the same columns: one `INSERT ... SELECT FROM unnest(...)` on
    PostgreSQL, where an executemany would run one INSERT per row."""
    rows = list(rows)
    if not rows:
        return
    table: Table = model.__table__
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(table.insert(), rows)
        return
    # Raw SQL gets no help from the model: fill in its constant defaults as Core would.
    defaults = {
        c.name: c.default.arg  # type: ignore[attr-defined]
        for c in table.columns
        if c.name not in rows[0] and c.default is not None and c.default.is_scalar
    }
    rows = [{**defaults, **row} for row in rows]
    keys = tuple(rows[0])
    columns = [table.c[key] for key in keys]
    arrays = ", ".join(f"CAST(:{c.name} AS {_type(c)}[])" for c in columns)
    names = ", ".join(c.name for c in columns)
    sql = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
    binds = [bindparam(c.name, type_=postgresql.ARRAY(c.type)) for c in columns]
    db.session.execute(text(sql).bindparams(*binds), _arrays(keys, rows))


def _statement(table: Table, keys: tuple[str, ...], owner_column: str | None = None) -> Any:
    columns = [table.c[key] for key in keys]
    setters = ", ".join(f"{c.name} = v.{c.name}" for c in columns if c.name != "id")
    arrays = ", ".join(f"CAST(:{c.name} AS {_type(c)}[])" for c in columns)
    names = ", ".join(c.name for c in columns)
    # Every name here comes from the table's own schema; the values travel as bound arrays.
    sql = (
        f"UPDATE {table.name} AS t SET {setters} "  # noqa: S608
        f"FROM unnest({arrays}) AS v({names}) WHERE t.id = v.id"
    )
    # Each array goes through its column type's own conversion (UTC datetimes, say).
    binds = [bindparam(c.name, type_=postgresql.ARRAY(c.type)) for c in columns]
    if owner_column is not None:
        sql += f" AND t.{table.c[owner_column].name} = :owner RETURNING t.id"
        binds.append(bindparam("owner", type_=table.c[owner_column].type))
    return text(sql).bindparams(*binds)


def _type(column: Column[Any]) -> str:
    return str(column.type.compile(dialect=_PG))


def _arrays(keys: tuple[str, ...], rows: list[Mapping[str, Any]]) -> dict[str, list[Any]]:
    return {key: [_plain(row[key]) for row in rows] for key in keys}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value
