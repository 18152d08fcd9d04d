"""Liveness and readiness for load balancers and the process supervisor."""

from __future__ import annotations

import hmac
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, Response, current_app, request
from sqlalchemy import text

from notifier.delivery import relays
from notifier.domain.relays import Relay, served, unserved
from notifier.infra.context import settings
from notifier.infra.extensions import db
from notifier.infra.metrics import render
from notifier.infra.queues import redis_connection
from notifier.infra.redis_conn import REDIS_FAULTS

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> tuple[dict[str, object], int]:
    """Ready: the database and Redis answer, and so does the relay (SMTP_URL), or with RELAYS
    at least one relay for each kind of mail (docs/deployment.md, "Watching it")."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        redis_connection(current_app).ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    listed = relays.relays()
    if not listed:
        checks["smtp"] = _smtp_check()
        ready = all(value == "ok" for value in checks.values())
        return {"ready": ready, "checks": checks}, 200 if ready else 503
    return _with_relays(listed, checks)


def _with_relays(listed: Sequence[Relay], checks: dict[str, str]) -> tuple[dict[str, object], int]:
    """Each relay by name, never by url (it may hold a password), then each kind of mail: ready
    when every kind has a relay that answers among its candidates. One relay down among others
    only moves its share to them; a kind with none waits entirely (a relay that notices are
    pinned to, with no fallback). Whether Redis marks a relay down (for RELAY_PROBE_SECONDS,
    after a batch failed on it) is shown, not judged: the mark is the send path's short memory,
    and the probe clears it as soon as the relay answers again."""
    with ThreadPoolExecutor(len(listed), thread_name_prefix="readyz") as pool:
        # At once: N relays cost one timeout, not N.
        found = list(pool.map(lambda relay: _smtp_check(relay.url), listed))
    for relay, found_one in zip(listed, found, strict=True):
        checks[f"relay:{relay.name}"] = found_one
    answering = {relay.name for relay, one in zip(listed, found, strict=True) if one == "ok"}
    waiting = unserved(listed, answering)
    for label, _, _ in served(listed):
        if label not in waiting:
            checks[f"mail:{label}"] = "ok"
        elif waiting[label]:
            checks[f"mail:{label}"] = f"error: no relay answers ({', '.join(waiting[label])})"
        else:  # every weight 0 and the kind pinned nowhere: take() refuses it every time
            checks[f"mail:{label}"] = "error: no relay carries it"
    ready = all(value == "ok" for key, value in checks.items() if not key.startswith("relay:"))
    body: dict[str, object] = {"ready": ready, "checks": checks}
    if checks["redis"] == "ok":
        try:
            marks = relays.down_marks(redis_connection(current_app))
            body["marked_down"] = {mark.relay.name: round(mark.left, 1) for mark in marks}
        except REDIS_FAULTS as exc:
            body["marked_down"] = f"error: {type(exc).__name__}"
    return body, 200 if ready else 503


def _smtp_check(url: str | None = None) -> str:
    """A TCP connect to the relay (SMTP_URL by default): enough to know it answers, without an
    SMTP session per probe."""
    from notifier.delivery.composer import smtp_url
    from notifier.mail.smtp import InvalidSmtpUrl, SmtpConfig

    try:
        config = SmtpConfig.from_url(smtp_url() if url is None else url)
        with socket.create_connection((config.host, config.port), timeout=2):
            return "ok"
    except (OSError, InvalidSmtpUrl) as exc:
        return f"error: {type(exc).__name__}"


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; set METRICS_TOKEN to require `Authorization: Bearer <token>`."""
    token = settings().METRICS_TOKEN
    if token and not hmac.compare_digest(
        request.headers.get("Authorization", ""), f"Bearer {token}"
    ):
        return Response("unauthorised\n", status=401, mimetype="text/plain")
    body = render(redis_connection(current_app))
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")
