"""CSV import from the admin pages: keep the upload, preview it, then run the real importer."""

from __future__ import annotations

import csv
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from flask import current_app

from notifier.contacts import importer
from notifier.domain.errors import NotFound
from notifier.infra.extensions import db
from notifier.operations.access import Access

PREVIEW_ROWS = 5
TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Preview:
    token: str
    layout: importer.Layout
    rows: list[list[str]]
    name: str = ""  # as uploaded; the stored file has a random name


def _folder() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _path(token: str) -> Path:
    # The token comes back from a form: only our own 32 hex digits name a file.
    if not TOKEN.match(token):
        raise NotFound("upload")
    path = _folder() / f"{token}.csv"
    if not path.exists():
        raise NotFound("upload")
    return path


def stage_upload(access: Access, data: bytes, filename: str) -> Preview:
    """Store the file under a random name, read its layout (header checks) and first rows."""
    access.require("contacts.import")
    token = secrets.token_hex(16)
    path = _folder() / f"{token}.csv"
    path.write_bytes(data)
    try:
        return replace(preview(access, token), name=Path(filename).name[:200])
    except importer.ImportAborted:
        path.unlink(missing_ok=True)
        raise


def layout_for(access: Access, path: Path) -> importer.Layout:
    """The file's columns as this role may write them: a staff import changes only fields the
    role may see (contacts.import is the right to write those), never reveals the others by
    comparing them, and moves an address by external_ref only for a role that may edit email."""
    layout = importer.read_layout(path)
    return importer.restrict(layout, access.sees, moves_email="email" in access.editable)


def preview(access: Access, token: str) -> Preview:
    access.require("contacts.import")
    path = _path(token)
    layout = layout_for(access, path)
    rows: list[list[str]] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=layout.delimiter)
        next(reader, None)
        for cells in reader:
            if len(rows) >= PREVIEW_ROWS:
                break
            rows.append(cells)
    access.audit(
        "contacts.import_preview", "import_file", layout.sha256, rows=len(rows),
        refused=list(layout.refused),
    )  # fmt: skip
    db.session.flush()
    return Preview(token, layout, rows)


def run(access: Access, token: str) -> importer.ImportResult:
    """The importer writes its own audit row (actor = this staff member) and commits per chunk."""
    access.require("contacts.import")
    path = _path(token)
    try:
        return importer.run_import(path, layout_for(access, path), actor=access.actor)
    finally:
        path.unlink(missing_ok=True)
