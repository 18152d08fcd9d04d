"""Liveness and readiness for load balancers and the process supervisor."""

from __future__ import annotations

import hmac
import socket

from flask import Blueprint, Response, current_app, request
from sqlalchemy import text

from notifier.infra.extensions import db
from notifier.infra.metrics import render
from notifier.infra.queues import redis_connection

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> tuple[dict[str, object], int]:
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
    checks["smtp"] = _smtp_check()
    ready = all(value == "ok" for value in checks.values())
    return {"ready": ready, "checks": checks}, 200 if ready else 503


def _smtp_check() -> str:
    """A TCP connect to the relay: enough to know it answers, without an SMTP session per probe."""
    from notifier.delivery.composer import smtp_url
    from notifier.mail.smtp import InvalidSmtpUrl, SmtpConfig

    try:
        config = SmtpConfig.from_url(smtp_url())
        with socket.create_connection((config.host, config.port), timeout=2):
            return "ok"
    except (OSError, InvalidSmtpUrl) as exc:
        return f"error: {type(exc).__name__}"


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; set METRICS_TOKEN to require `Authorization: Bearer <token>`."""
    token = current_app.config.get("METRICS_TOKEN")
    if token and not hmac.compare_digest(
        request.headers.get("Authorization", ""), f"Bearer {token}"
    ):
        return Response("unauthorised\n", status=401, mimetype="text/plain")
    body = render(redis_connection(current_app))
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")
