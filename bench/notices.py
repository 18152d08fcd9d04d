"""Renewal notices posted to the real HTTP API while a campaign sends: API to SMTP accept time.

The web process is gunicorn from the Procfile, in its own process; each notice is timed from the
moment its POST starts to the moment the worker recorded the relay's 250 for it (`sent_at`, set
right after the reply is read), so the figure covers the API, the queue, the worker and SMTP.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bench.sinks import free_port
from notifier.campaigns.templates import TemplateInput, save_template
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.infra.extensions import db
from notifier.models import Notice
from notifier.notices import notices
from notifier.operations import staff

NOTICE_TYPE = "renewal"


def prepare_notices() -> str:
    """A renewal notice type and an API key for it; returns the key."""
    layout = builtin_layouts()["renewal"]
    template = save_template(
        TemplateInput("Renewal", "renewal", "renewal", layout.subject, layout.body, layout.text)
    )
    notices.define_notice_type(NOTICE_TYPE, "Renewal", "renewal", template.id)
    return staff.create_api_key("billing", ["notices"]).plaintext


class WebServer:
    """gunicorn serving the app, as the Procfile's web process does."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.process = subprocess.Popen(
            [gunicorn, "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--log-level",
             "warning", "notifier:create_app()"],
            env=env,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the web process did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class NoticeProbe(threading.Thread):
    """Posts `count` notices, `per_second` of them a second, after `delay` seconds."""

    def __init__(self, url: str, key: str, count: int, per_second: float, delay: float) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.count = url, key, count
        self.interval, self.delay = 1 / per_second, delay
        self.posted: dict[int, float] = {}  # notice id -> wall clock at the POST's start
        self.errors: list[str] = []
        self.stop = threading.Event()  # set when the campaign is done: only load is measured

    def run(self) -> None:
        if self.stop.wait(self.delay):
            return
        for number in range(self.count):
            if self.stop.is_set():
                return
            started = time.time()
            try:
                self.posted[self._post(number)] = started
            except OSError as exc:
                self.errors.append(str(exc))
            self.stop.wait(max(0.0, self.interval - (time.time() - started)))

    def _post(self, number: int) -> int:
        body = {
            "type": NOTICE_TYPE,
            "contact": {
                "external_ref": f"BENCH-{number}",
                "email": f"renewal{number}@bench.example.com",
                "name": f"Khách hàng {number}",
                "locale": "vi",
            },
            "data": {
                "brand": "DCNET",
                "service_name": "Hosting Pro",
                "account_ref": f"BENCH-{number}",
                "expires_on": "2026-12-31",
                "amount": 1250000,
                "currency": "VND",
                "renew_url": f"https://bench.example/gia-han/{number}",
            },
        }
        request = urllib.request.Request(
            f"{self.url}/api/v1/notices",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.key}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"bench-{number}",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(json.load(answer)["id"])


def notice_figures(probe: NoticeProbe) -> dict[str, object]:
    """p50, p95 and max from POST to SMTP accept, over the notices that were sent."""
    db.session.remove()
    rows = db.session.execute(
        select(Notice.id, Notice.status, Notice.sent_at).where(Notice.id.in_(list(probe.posted)))
    ).all()
    latencies = sorted(
        (
            sent_at.replace(tzinfo=sent_at.tzinfo or UTC) - _at(probe.posted[notice_id])
        ).total_seconds()
        for notice_id, status, sent_at in rows
        if status == "sent" and sent_at is not None
    )
    figures: dict[str, object] = {
        "notices_posted": len(probe.posted),
        "notices_sent": len(latencies),
        "notice_post_errors": len(probe.errors),
    }
    if len(latencies) >= 2:
        figures.update(
            notice_p50_ms=round(statistics.median(latencies) * 1000),
            notice_p95_ms=round(statistics.quantiles(latencies, n=20)[-1] * 1000),
            notice_max_ms=round(latencies[-1] * 1000),
        )
    return figures


def _at(wall_clock: float) -> datetime:
    return datetime.fromtimestamp(wall_clock, UTC)
