"""Static files: versioned URLs cached for a year, gzip for text assets, and /favicon.ico."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request
from flask_compress import Compress

YEAR = 365 * 24 * 3600
# Unversioned URLs (an old bookmark, /favicon.ico) are revalidated after an hour.
HOUR = 3600
# Only our own assets: pages carry CSRF tokens and personal data, and compressing those would
# open them to BREACH-style guessing, so HTML and JSON stay uncompressed.
COMPRESSED = ["text/css", "text/javascript", "application/javascript", "image/svg+xml",
              "image/x-icon", "image/vnd.microsoft.icon"]  # fmt: skip


def init_static(app: Flask) -> None:
    app.config.update(
        COMPRESS_MIMETYPES=COMPRESSED,
        COMPRESS_ALGORITHM=["gzip"],
        # Flask streams files from disk; gzip those too (the library's default leaves it out).
        COMPRESS_ALGORITHM_STREAMING=["gzip"],
    )
    Compress(app)
    app.url_defaults(_versioned)
    app.add_url_rule("/favicon.ico", "favicon", _favicon)


def max_age(_filename: str | None) -> int:
    """A URL that names the file's content (?v=) never changes; any other is checked hourly."""
    return YEAR if request.args.get("v") else HOUR


def _versioned(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint == "static" and "filename" in values and "v" not in values:
        static = Path(current_app.static_folder or "")
        values["v"] = _digest(static / values["filename"])


@cache
def _digest(path: Path) -> str:
    # Read once per process: a deploy restarts the processes, so a new file gets a new URL.
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "0"


def _favicon() -> Response:
    return current_app.send_static_file("favicon.ico")
