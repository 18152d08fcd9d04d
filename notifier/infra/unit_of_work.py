"""Units of work: the entry point owns the transaction; everything below it only flushes.

An entry point (a view, a job, a scheduler task, a CLI command, the inbound SMTP handler) opens
one unit of work. When its body returns, the unit commits once and then
runs the actions registered during it with `after_commit` (enqueueing a job is one), in order.
When the body raises, it rolls back and drops those actions: a worker never looks for a row that
was never written. A `RecordedRefusal` is the one exception that commits first: an error answer
whose work must stand, such as a failed sign-in's counter and its audit row.

Three tools for the code below an entry point, each used where its caller says why:
`checkpoint` (the send path's claims and outcomes, a plan's ranges, an import's chunks),
`savepoint` (undo one lost race, not the whole unit) and `discard` (a refusal after rows were
staged).

Actions run only after the commit, so an action that fails (Redis down) cannot undo the data; it
is logged, and the scheduler finds the work again from the database.

Nothing listens to the session globally: whoever registers an action does so by a call.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy.orm import Session

from notifier.domain.errors import RecordedRefusal
from notifier.infra.extensions import db

log = logging.getLogger(__name__)
_KEY = "notifier.unit_of_work"
Action = Callable[[], object]
F = TypeVar("F", bound=Callable[..., Any])


class NoUnitOfWork(RuntimeError):
    """Work that must happen after a commit was registered where no entry point opened one."""


@dataclass
class UnitOfWork:
    session: Session
    actions: list[Action] = field(default_factory=list)

    def after_commit(self, action: Action) -> None:
        self.actions.append(action)

    def _run_actions(self) -> None:
        for action in self.actions:
            try:
                action()
            except Exception:  # the data is committed; the scheduler re-enqueues from it
                log.exception("after-commit action %r failed", action)
        self.actions.clear()


def current(session: Session | None = None) -> UnitOfWork:
    session = session if session is not None else db.session()
    uow = session.info.get(_KEY)
    if uow is None:
        raise NoUnitOfWork("no unit of work is open: the entry point opens one")
    return cast(UnitOfWork, uow)


def is_open(session: Session | None = None) -> bool:
    session = session if session is not None else db.session()
    return _KEY in session.info


def after_commit(action: Action, session: Session | None = None) -> None:
    """Run `action` once the current unit of work has committed; never if it rolls back."""
    current(session).after_commit(action)


@contextmanager
def unit_of_work(session: Session | None = None) -> Iterator[UnitOfWork]:
    session = session if session is not None else db.session()
    if _KEY in session.info:
        # Only an entry point opens one: a nested unit could not commit without committing the
        # outer one's work too, so it is a bug, not something to join silently.
        raise RuntimeError("a unit of work is already open on this session")
    uow = UnitOfWork(session)
    session.info[_KEY] = uow
    refusal: RecordedRefusal | None = None
    try:
        try:
            yield uow
        except RecordedRefusal as exc:
            refusal = exc
        _commit(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_KEY, None)
    uow._run_actions()
    if refusal is not None:
        raise refusal


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


def checkpoint(session: Session | None = None) -> None:
    """A deliberate boundary inside a unit of work, for the send path only: commit the work so
    far and run its actions. A claim must be visible to other workers before the message goes
    out, and an outcome must be recorded before the next message; each caller says why."""
    uow = current(session)
    _commit(uow.session)
    uow._run_actions()


@contextmanager
def savepoint(session: Session | None = None) -> Iterator[None]:
    """Undo only this block when it raises (a lost race on a unique key), not the entry point's
    whole unit of work; the block's changes are flushed when it ends."""
    session = session if session is not None else db.session()
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    # pysqlite opens its transaction only before a write, so the SAVEPOINT would open it and
    # RELEASE would then commit on its own: begin explicitly first.
    if connection.dialect.name == "sqlite" and not getattr(dbapi, "in_transaction", True):
        connection.exec_driver_sql("BEGIN")
    uow = session.info.get(_KEY)
    registered = len(uow.actions) if uow is not None else 0
    try:
        with session.begin_nested():
            yield
    except BaseException:
        if uow is not None:
            del uow.actions[registered:]  # their rows are gone with the savepoint
        raise


def discard(session: Session | None = None) -> None:
    """Undo everything staged in the current unit of work and drop its actions: for an entry
    point that answers a refusal after a use case had staged rows."""
    session = session if session is not None else db.session()
    session.rollback()
    uow = session.info.get(_KEY)
    if uow is not None:
        uow.actions.clear()


def transactional(func: F) -> F:
    """The decorator form, for entry points: the whole call is one unit of work."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        with unit_of_work():
            return func(*args, **kwargs)

    return cast(F, run)
