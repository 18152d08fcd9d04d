"""The queues page in Chromium: an admin sees a job that really failed and requeues it."""

from __future__ import annotations

from typing import Any

from flask import Flask

from notifier.infra.queues import queue
from notifier.processes.worker import run_worker
from tests.browser.test_admin_flow import _nav, _sign_in, screenshot
from tests.integration.test_admin_support import make_staff


def refuse(batch: int) -> None:
    raise ConnectionRefusedError(f"relay refused batch {batch}")


def test_an_admin_requeues_a_failed_job(app: Flask, live_server: str, page: Any) -> None:
    make_staff("admin@example.com", "admin", name="Lê Quản Trị")
    job = queue("send").enqueue(f"{__name__}.refuse", 12)
    run_worker(app, ["send"], burst=True)
    _sign_in(page, live_server, "admin@example.com")

    _nav(page, "Hàng đợi")
    row = page.locator(f"tr[data-job='{job.id}']")
    assert "ConnectionRefusedError: relay refused batch 12" in row.inner_text()
    assert page.get_by_test_id("failed-send").inner_text() == "1"
    assert page.get_by_test_id("queued-send").inner_text() == "0"
    screenshot(page, "admin-queues")
    row.get_by_role("button", name="Đưa lại vào hàng đợi").click()
    page.get_by_text(f"Đã đưa việc {job.id} trở lại hàng đợi send.").wait_for()
    assert page.get_by_test_id("queued-send").inner_text() == "1"
    assert page.get_by_test_id("failed-send").inner_text() == "0"
    assert row.count() == 0
    assert queue("send").job_ids == [job.id]
