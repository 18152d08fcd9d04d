"""API-to-SMTP latency of renewal notices, with the worker in its own process as in production."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from rq import Worker

from notifier.infra.queues import redis_connection
from notifier.infra.settings import settings_of
from tests.conftest import SECRET, configure
from tests.integration import test_api_support as support
from tests.integration.test_api_support import issue_key, notice_body, renewal_type
from tests.smtp_server import SmtpTestServer

live_server, smtp = support.live_server, support.smtp  # fixtures
NOTICES = 50


@pytest.fixture
def worker_process(app: Flask, smtp: SmtpTestServer, tmp_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": settings_of(app).DATABASE_URL,
        "REDIS_URL": settings_of(app).REDIS_URL,
        "SMTP_URL": smtp.url,
        "SECRET_KEY": SECRET,
        "PUBLIC_BASE_URL": settings_of(app).PUBLIC_BASE_URL,
        "NOTIFIER_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "NOTIFIER_PROFILE": "dcnet",
    }
    notifier = str(Path(sys.executable).parent / "notifier")
    process = subprocess.Popen([notifier, "worker"], env=env)
    deadline = time.monotonic() + 30
    while not Worker.all(connection=redis_connection()):
        assert process.poll() is None and time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.05)
    yield process
    process.terminate()
    process.wait(10)


@pytest.mark.slow
def test_renewal_notice_latency_from_api_to_smtp(
    app: Flask, live_server: str, smtp: SmtpTestServer, worker_process: subprocess.Popen
) -> None:
    renewal_type()
    key = issue_key("notices")
    configure(app, API_RATE_LIMIT=10_000)
    latencies = []
    for i in range(NOTICES):
        body = json.dumps(notice_body(ref=f"KH-{i:03}", email=f"kh{i}@example.com")).encode()
        request = urllib.request.Request(
            f"{live_server}/api/v1/notices",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"latency-{i}",
            },
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 202
        while len(smtp.messages) <= i:
            assert time.perf_counter() - started < 30, f"notice {i} never reached the SMTP server"
            time.sleep(0.001)
        latencies.append(time.perf_counter() - started)
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(
        f"\nAPI->SMTP accept over {NOTICES} renewal notices: p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    assert [m.rcpt_tos for m in smtp.messages] == [[f"kh{i}@example.com"] for i in range(NOTICES)]
    assert p95 < 2.0
