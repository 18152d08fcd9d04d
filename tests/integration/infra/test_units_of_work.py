"""Units of work on a real database and a real Redis: one commit per entry point, jobs after it.

What another process sees is read through a connection of its own, never through the test's
session, so a row that is only flushed does not count as written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import signup
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, queue
from notifier.infra.unit_of_work import after_commit, checkpoint, savepoint, unit_of_work
from notifier.operations import two_factor
from notifier.privacy.requests import Requester
from notifier.processes import scheduler
from tests.integration.public_helpers import csrf_of
from tests.integration.test_admin_support import make_staff

PEOPLE = sa.text("SELECT count(*) FROM contacts")
MAILS = sa.text("SELECT count(*) FROM system_mails")


def seen_elsewhere(query: sa.TextClause) -> int:
    """What another process would read now: a connection of its own."""
    with db.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _subscribe(email: str = "an@example.com") -> None:
    signup.subscribe(email, "An", ["promotions"], Requester("203.0.113.7", "UA"))


def _post_signup(client: FlaskClient, email: str) -> object:
    token = csrf_of(client.get("/subscribe").get_data(as_text=True))
    data = {"csrf_token": token, "email": email, "name": "An", "purpose": ["promotions"]}
    return client.post("/subscribe", data=data)


def test_a_request_commits_once_and_enqueues_after(app: Flask, client: FlaskClient) -> None:
    answer = _post_signup(client, "an@example.com")
    assert answer.status_code == 200  # type: ignore[attr-defined]
    assert seen_elsewhere(PEOPLE) == 1 and seen_elsewhere(MAILS) == 1
    assert queue(NOTICES).count == 1  # the confirmation mail's job


def test_a_failing_request_leaves_nothing_written_and_enqueues_nothing(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifier.web.public import signup as page

    shown = page.render

    def fails_after_the_use_case(template: str, *args: object, **kwargs: object) -> object:
        if template == "public/subscribe_sent.html":
            raise RuntimeError("the page broke after the contact was staged")
        return shown(template, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(page, "render", fails_after_the_use_case)
    with pytest.raises(RuntimeError):
        _post_signup(client, "an@example.com")
    assert seen_elsewhere(PEOPLE) == 0 and seen_elsewhere(MAILS) == 0
    assert queue(NOTICES).count == 0


def test_a_job_is_enqueued_only_once_its_rows_are_committed(app: Flask) -> None:
    observed: list[tuple[int, int]] = []
    with unit_of_work():
        _subscribe()
        # Registered after the mail's job: by then that job is in Redis, and its row must be
        # visible to a worker (another connection).
        after_commit(lambda: observed.append((queue(NOTICES).count, seen_elsewhere(MAILS))))
        assert queue(NOTICES).count == 0  # nothing before the commit
    assert observed == [(1, 1)]


def test_a_rollback_drops_the_jobs_and_the_rows(app: Flask) -> None:
    with pytest.raises(RuntimeError), unit_of_work():
        _subscribe()
        raise RuntimeError("the entry point failed after the use case")
    assert seen_elsewhere(PEOPLE) == 0 and seen_elsewhere(MAILS) == 0
    assert queue(NOTICES).count == 0


def test_a_failed_savepoint_drops_only_its_own_rows_and_jobs(app: Flask) -> None:
    with unit_of_work():
        _subscribe("first@example.com")
        with pytest.raises(RuntimeError), savepoint():
            _subscribe("second@example.com")
            raise RuntimeError("a lost race on a unique key")
    assert seen_elsewhere(PEOPLE) == 1 and seen_elsewhere(MAILS) == 1
    assert queue(NOTICES).count == 1


def test_a_checkpoint_commits_and_enqueues_at_once(app: Flask) -> None:
    with unit_of_work():
        _subscribe()
        checkpoint()
        assert seen_elsewhere(MAILS) == 1 and queue(NOTICES).count == 1
        _subscribe("second@example.com")
        assert seen_elsewhere(MAILS) == 1  # the rest waits for the unit's own commit
    assert seen_elsewhere(MAILS) == 2 and queue(NOTICES).count == 2


def test_only_the_entry_point_opens_a_unit_of_work(app: Flask) -> None:
    with unit_of_work(), pytest.raises(RuntimeError, match="already open"), unit_of_work():
        pass


def test_a_wrong_code_is_counted_and_audited_although_it_raises(app: Flask) -> None:
    """A RecordedRefusal commits before it is passed on: rolling the count back with the error
    would give unlimited guesses at the second factor."""
    user = make_staff("an.admin@example.com", "admin")  # the role requires a second factor
    assert user.totp_enrolled_at is not None
    with pytest.raises(two_factor.WrongCode), unit_of_work():
        two_factor.verify_code(user.id, "000000", "203.0.113.9", datetime.now(UTC))
    with db.engine.connect() as conn:
        failed = conn.execute(
            sa.text("SELECT failed_logins FROM staff_users WHERE id = :id"), {"id": user.id}
        ).scalar_one()
        refused = conn.execute(
            sa.text("SELECT count(*) FROM audit_log WHERE action = '2fa.code_refused'")
        ).scalar_one()
    assert (failed, refused) == (1, 1)


def test_a_failing_scheduler_task_undoes_only_itself(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def subscribes(email: str) -> Callable[[datetime], None]:
        return lambda _now: _subscribe(email)

    def fails(_now: datetime) -> None:
        _subscribe("lost@example.com")
        raise RuntimeError("this task fails after staging a contact")

    monkeypatch.setattr(
        scheduler,
        "tasks",
        lambda: [subscribes("one@example.com"), fails, subscribes("two@example.com")],
    )
    scheduler.tick(datetime.now(UTC))
    with db.engine.connect() as conn:
        emails = conn.execute(sa.text("SELECT email FROM contacts ORDER BY email")).scalars()
        assert list(emails) == ["one@example.com", "two@example.com"]
    assert queue(NOTICES).count == 2


def test_every_view_runs_in_a_unit_of_work(app: Flask) -> None:
    """Wrapped at start-up, so a new view cannot forget it (the API's included)."""
    unwrapped = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint != "static" and not getattr(view, "in_unit_of_work", False)
    ]
    assert len(app.view_functions) > 50 and unwrapped == []
