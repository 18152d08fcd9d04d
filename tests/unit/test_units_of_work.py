"""The transaction rules of docs/design.md ("Units of work"), checked on the source itself.

Only entry points commit, through notifier/infra/unit_of_work.py; the send path's deliberate
boundaries live in notifier/delivery (their own engineer's transaction design) and the importer
ends each chunk with `checkpoint`. Nothing listens to the session to enqueue, and the use cases
never read Flask's request globals.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "notifier"
# Where a commit is the design: the unit of work itself, and the send path's claims and outcomes.
COMMITS_ALLOWED = ("notifier/infra/unit_of_work.py", "notifier/delivery/")
# Where the request is the point: the pages, the API, the catalogue's locale choice, and the
# rate limiter's key functions (they run inside the request, keyed on its address).
REQUEST_GLOBALS_ALLOWED = (
    "notifier/web/",
    "notifier/api/",
    "notifier/i18n.py",
    "notifier/infra/rate_limits.py",
)
REQUEST_GLOBALS = {"request", "session", "g"}


def _sources() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name.startswith("notifier/migrations/"):
            continue
        found.append((name, ast.parse(path.read_text(encoding="utf-8"), name)))
    return found


def commits(tree: ast.Module) -> list[int]:
    """Lines that call `.commit(` on anything (a session, a connection, a transaction)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
    ]


def request_globals(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module in ("flask", "flask.globals")
            and REQUEST_GLOBALS & {alias.name for alias in node.names}
        ):
            lines.append(node.lineno)
    return lines


def session_listeners(tree: ast.Module) -> list[int]:
    """`event.listen(Session, ...)` or `@event.listens_for(Session, ...)`: global hooks."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("listen", "listens_for")
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in ("Session", "scoped_session", "sessionmaker")
        ):
            lines.append(node.lineno)
    return lines


def test_only_the_unit_of_work_and_the_send_path_commit() -> None:
    found = [
        f"{name}:{line}"
        for name, tree in _sources()
        if not name.startswith(COMMITS_ALLOWED)
        for line in commits(tree)
    ]
    assert found == [], "commit through the entry point's unit of work instead"


def test_use_cases_do_not_read_request_globals() -> None:
    found = [
        f"{name}:{line}"
        for name, tree in _sources()
        if not name.startswith(REQUEST_GLOBALS_ALLOWED)
        for line in request_globals(tree)
    ]
    assert found == [], "pass what the use case needs from the request as arguments"


def test_nothing_listens_to_the_session_globally() -> None:
    found = [f"{name}:{line}" for name, tree in _sources() for line in session_listeners(tree)]
    assert found == [], "register an after_commit action with the unit of work instead"


@pytest.mark.parametrize(
    ("source", "rule", "lines"),
    [
        ("def f(db):\n    db.session.commit()\n", commits, [2]),
        ("def f(conn):\n    conn.commit()\n", commits, [2]),
        ("def f(db):\n    db.session.flush()\n", commits, []),
        ("from flask import request\n", request_globals, [1]),
        ("from flask import Flask, g\n", request_globals, [1]),
        ("from flask.globals import session\n", request_globals, [1]),
        ("from flask import current_app\n", request_globals, []),
        ("event.listen(Session, 'after_commit', f)\n", session_listeners, [1]),
        ("@event.listens_for(Session, 'before_flush')\ndef f(): pass\n", session_listeners, [1]),
        ("event.listen(Engine, 'connect', f)\n", session_listeners, []),
    ],
)
def test_the_checks_see_what_they_look_for(source: str, rule: object, lines: list[int]) -> None:
    assert callable(rule)
    assert rule(ast.parse(source)) == lines
