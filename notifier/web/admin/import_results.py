"""An import's result kept beside its upload, so the result page survives a reload."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from flask import current_app

from notifier.contacts.importer import ImportResult, RowError
from notifier.contacts.imports import TOKEN
from notifier.domain.errors import NotFound


def _path(token: str) -> Path:
    # The token comes back in a URL: only our own 32 hex digits name a file.
    if not TOKEN.match(token):
        raise NotFound("import")
    return Path(current_app.instance_path) / "imports" / f"{token}.result.json"


def save(token: str, result: ImportResult) -> None:
    path = _path(token)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(asdict(result), ensure_ascii=False), "utf-8")
    path.chmod(0o600)


def load(token: str) -> ImportResult:
    path = _path(token)
    if not path.exists():
        raise NotFound("import")
    data = json.loads(path.read_text("utf-8"))
    errors = [RowError(**error) for error in data.pop("errors")]
    return ImportResult(**data, errors=errors)
