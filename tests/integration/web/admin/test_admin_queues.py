"""The queues page on the real Redis: depths, workers, failed jobs, requeue, delete, who sees it."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import get_current_job
from rq.job import Job, JobStatus

from notifier.infra.extensions import db
from notifier.infra.queues import queue, redis_connection
from notifier.models import AuditEntry
from notifier.processes.worker import run_worker
from tests.integration.test_admin_support import browser, csrf_token, make_staff, sign_in

# The worker runs in this process and finds these by the name pytest imported this module under.
EXPLODE = f"{__name__}.explode"
# What a running job does while a worker holds it (see test_a_busy_worker_shows_its_job).
_while_running: list[Callable[[], None]] = []


def explode(batch: int, relay: str = "smtp.example.vn") -> None:
    raise RuntimeError(f"{relay} refused batch {batch}")


def look_while_running() -> None:
    for step in _while_running:
        step()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Requests that do not share flask.g (see test_admin_support.Browser)."""
    return browser(app)


@pytest.fixture
def admin(client: FlaskClient) -> FlaskClient:
    make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(client, "admin@example.com")
    return client


def _fail(app: Flask, queue_name: str, *batches: int) -> list[str]:
    """Jobs that really fail, run by the product's own worker class."""
    jobs = [queue(queue_name).enqueue(EXPLODE, batch, relay="smtp.example.vn") for batch in batches]
    run_worker(app, [queue_name], burst=True)
    for job in jobs:
        assert job.get_status() == JobStatus.FAILED
    return [job.id for job in jobs]


def _count(page: str, what: str, queue_name: str) -> int:
    found = re.search(rf'data-testid="{what}-{queue_name}">(?:<a [^>]*>)?(\d+)<', page)
    assert found, f"no {what} count for {queue_name}"
    return int(found[1])


def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == action)))


def _post(client: FlaskClient, url: str, **data: str) -> str:
    """A form the page offers, submitted; returns the page the redirect lands on."""
    response = client.post(url, data={**data, "csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert "/admin/queues" in response.headers["Location"]
    return client.get(response.headers["Location"]).get_data(as_text=True)


def test_depths_match_the_jobs_in_redis(app: Flask, admin: FlaskClient) -> None:
    for campaign_id in (1, 2, 3):
        queue("send").enqueue("workers.jobs.send_campaign", campaign_id)
    head = queue("notices").enqueue("workers.jobs.send_notice", 9)
    queue("campaigns").enqueue_in(timedelta(hours=1), "workers.jobs.plan_campaign", 4)
    queue("send").enqueue("workers.jobs.send_campaign", 5, depends_on=head)

    response = admin.get("/admin/queues")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert (_count(page, "queued", "send"), _count(page, "deferred", "send")) == (3, 1)
    assert (_count(page, "queued", "notices"), _count(page, "queued", "campaigns")) == (1, 0)
    assert _count(page, "scheduled", "campaigns") == 1
    assert sum(_count(page, "failed", name) for name in ("notices", "campaigns", "send")) == 0
    assert [queue(name).count for name in ("notices", "campaigns", "send")] == [1, 0, 3]
    assert re.search(r'data-testid="oldest-notices">\d+ giây<', page)
    assert re.search(r'data-testid="oldest-campaigns"><span class="muted">—', page)
    assert "Không có worker nào đăng ký trong Redis" in page
    # Priority order, as workers take them.
    assert page.index('data-queue="notices"') < page.index('data-queue="campaigns"')
    assert page.index('data-queue="campaigns"') < page.index('data-queue="send"')
    assert _audit("queues.view")


def test_a_busy_worker_shows_its_job(app: Flask, admin: FlaskClient) -> None:
    seen: dict[str, object] = {}

    def look() -> None:
        job = get_current_job()
        assert job is not None
        seen.update(job_id=job.id, worker=job.worker_name, page=admin.get("/admin/queues"))

    _while_running.append(look)
    try:
        queue("notices").enqueue(f"{__name__}.look_while_running")
        run_worker(app, ["notices", "send"], burst=True)
    finally:
        _while_running.clear()
    page = seen["page"].get_data(as_text=True)  # type: ignore[attr-defined]
    workers = page[page.index('data-testid="workers"') :]
    assert str(seen["worker"]) in workers and str(seen["job_id"]) in workers
    assert "look_while_running" in workers and "Đang bận" in workers
    assert "notices, send" in workers and "giây" in workers
    assert _count(page, "started", "notices") == 1
    # The burst worker has gone: Redis no longer lists it.
    assert "Không có worker nào" in admin.get("/admin/queues").get_data(as_text=True)


def test_a_failed_job_shows_its_exception_and_requeue_puts_it_back(
    app: Flask, admin: FlaskClient
) -> None:
    (job_id,) = _fail(app, "send", 7)
    page = admin.get("/admin/queues").get_data(as_text=True)
    assert _count(page, "failed", "send") == 1
    row = html.unescape(page[page.index(f'data-job="{job_id}"') :])
    assert EXPLODE in row and '7, relay="smtp.example.vn"' in row
    assert "<strong>RuntimeError: smtp.example.vn refused batch 7</strong>" in row
    assert "<details><summary>Toàn bộ traceback</summary>" in row and "Traceback" in row
    assert re.search(r"<td>\d\d/\d\d/\d{4} \d\d:\d\d</td>", row)  # ended_at, local time

    landed = _post(admin, "/admin/queues/jobs/requeue", job_id=job_id)
    assert f"Đã đưa việc {job_id} trở lại hàng đợi send." in landed
    assert queue("send").job_ids == [job_id]
    assert job_id not in queue("send").failed_job_registry
    assert _count(landed, "queued", "send") == 1 and _count(landed, "failed", "send") == 0
    (entry,) = _audit("queues.requeue")
    assert entry.object_id == job_id and entry.details == {"queue": "send"}
    assert entry.actor.startswith("staff:")

    # It fails again when run, and Delete removes it for good.
    run_worker(app, ["send"], burst=True)
    assert job_id in queue("send").failed_job_registry
    landed = _post(admin, "/admin/queues/jobs/delete", job_id=job_id)
    assert f"Đã xóa việc {job_id} khỏi hàng đợi send." in landed
    assert job_id not in queue("send").failed_job_registry
    assert not Job.exists(job_id, connection=redis_connection())
    assert queue("send").count == 0 and len(_audit("queues.delete")) == 1
    assert f'data-job="{job_id}"' not in landed


def test_requeue_all_moves_one_queue_only(app: Flask, admin: FlaskClient) -> None:
    sent = _fail(app, "send", 1, 2, 3)
    (notice,) = _fail(app, "notices", 4)
    landed = _post(admin, "/admin/queues/requeue-all", queue="send")
    assert "Đã đưa 3 việc trở lại hàng đợi send." in landed
    assert sorted(queue("send").job_ids) == sorted(sent)
    assert queue("send").failed_job_registry.count == 0
    assert queue("notices").failed_job_registry.get_job_ids() == [notice]
    assert queue("notices").count == 0
    (entry,) = _audit("queues.requeue_all")
    assert entry.object_id == "send" and entry.details == {"count": 3}


def test_unknown_ids_and_queues_get_a_message_not_an_error(app: Flask, admin: FlaskClient) -> None:
    (failed,) = _fail(app, "campaigns", 1)
    waiting = queue("send").enqueue("workers.jobs.send_campaign", 2)
    landed = _post(admin, "/admin/queues/jobs/requeue", job_id="no-such-job")
    assert "Không có việc thất bại mã no-such-job" in landed
    # A queued job is not a failed one: Delete must not reach it.
    landed = _post(admin, "/admin/queues/jobs/delete", job_id=waiting.id)
    assert f"Không có việc thất bại mã {waiting.id}" in landed
    assert queue("send").job_ids == [waiting.id]
    landed = _post(admin, "/admin/queues/requeue-all", queue="bogus")
    assert "Không có hàng đợi tên bogus." in landed
    landed = _post(admin, "/admin/queues/jobs/requeue", job_id="x" * 500)
    assert "Biểu mẫu chưa hợp lệ" in landed
    assert queue("campaigns").failed_job_registry.get_job_ids() == [failed]
    assert admin.get("/admin/queues?failed=bogus").status_code == 404
    assert not _audit("queues.requeue") and not _audit("queues.delete")
    assert not _audit("queues.requeue_all")


def test_failed_jobs_are_paged_newest_first(app: Flask, admin: FlaskClient) -> None:
    older = set(_fail(app, "send", *range(50)))
    time.sleep(1.1)  # RQ scores failures by the second
    (newest,) = _fail(app, "send", 50)
    first = admin.get("/admin/queues?failed=send").get_data(as_text=True)
    rows = re.findall(r'<tr data-job="([^"]+)">', first)
    assert len(rows) == 50 and rows[0] == newest
    assert "Trang 1/2" in first
    second = admin.get("/admin/queues?failed=send&page=2").get_data(as_text=True)
    (last,) = re.findall(r'<tr data-job="([^"]+)">', second)
    assert {*rows, last} == older | {newest}


@pytest.mark.parametrize("role", ["management", "marketing", "staff_in_charge"])
def test_only_the_admin_role_may_see_or_act(app: Flask, client: FlaskClient, role: str) -> None:
    (job_id,) = _fail(app, "send", 1)
    make_staff("someone@example.com", role)
    sign_in(client, "someone@example.com")
    token = csrf_token(client, "/admin/")
    assert client.get("/admin/queues").status_code == 403
    for url, data in (
        ("/admin/queues/jobs/requeue", {"job_id": job_id}),
        ("/admin/queues/jobs/delete", {"job_id": job_id}),
        ("/admin/queues/requeue-all", {"queue": "send"}),
    ):
        assert client.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    assert queue("send").failed_job_registry.get_job_ids() == [job_id]
    assert 'href="/admin/queues"' not in client.get("/admin/").get_data(as_text=True)


def test_the_admin_navigation_links_the_page(admin: FlaskClient) -> None:
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/queues"' in page and "Hàng đợi" in page
    english = admin.get("/admin/queues?lang=en").get_data(as_text=True)
    assert "Queue depths" in english and "No worker is registered in Redis" in english


def test_a_post_without_the_csrf_token_is_refused(app: Flask, admin: FlaskClient) -> None:
    (job_id,) = _fail(app, "send", 1)
    assert admin.post("/admin/queues/jobs/delete", data={"job_id": job_id}).status_code == 400
    assert admin.post("/admin/queues/requeue-all", data={"queue": "send"}).status_code == 400
    assert queue("send").failed_job_registry.get_job_ids() == [job_id]


def test_redis_down_gives_a_message(app: Flask, admin: FlaskClient) -> None:
    # Nothing listens on port 1: every command fails to connect, at once (no retries).
    down = redis.Redis(port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    app.extensions["notifier.redis"] = down
    response = admin.get("/admin/queues")
    assert response.status_code == 503
    assert "Không kết nối được Redis" in response.get_data(as_text=True)
    landed = _post(admin, "/admin/queues/jobs/requeue", job_id="x")
    assert "Không kết nối được Redis" in landed
