"""`notifier subscriptions import FILE.csv`: subscriptions from a CSV file, with a progress bar
and a per-row error report like the contacts import (docs/import.md).

Each row becomes the same Row the API's bulk upsert writes (contacts/subscriptions.bulk_upsert),
so a file and a request are checked by the same rules and written the same way: each good row
whole, every 1,000 committed; the bad ones reported by line, field and message.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from notifier.contacts.importer import FORMULA_START
from notifier.contacts.subscriptions import BulkReport, ContactKey, Row, RowError, bulk_upsert
from notifier.domain.addresses import InvalidAddress, normalise_email
from notifier.domain.subscriptions import EXTERNAL_ID, check_fields

COLUMNS = (
    "external_id",
    "contact_external_ref",
    "contact_email",
    "kind",
    "name",
    "plan",
    "expires_on",
    "amount",
    "currency",
    "renewal_url",
    "status",
    "attributes",
)
REQUIRED = ("external_id", "kind", "name")
AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,4})?$")
DATE = re.compile(r"^(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$")
SHOWN_ERRORS = 20


class FileRefused(Exception):
    pass


def _rows(path: Path, on_row: Callable[[], object]) -> Iterator[Row | list[RowError]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        unknown = sorted(set(header) - set(COLUMNS))
        missing = [c for c in REQUIRED if c not in header]
        if unknown or missing:
            problems = []
            if missing:
                problems.append(f"missing columns {', '.join(missing)}")
            if unknown:
                problems.append(f"unknown columns {', '.join(unknown)}")
            raise FileRefused("; ".join(problems))
        reader.fieldnames = header
        for raw in reader:
            on_row()
            # The header is line 1; a row's line is where it starts (quoted cells may span lines).
            yield _row(reader.line_num, raw)


def _row(line: int, raw: dict[str, Any]) -> Row | list[RowError]:
    if None in raw:
        return [RowError(line, "row", "has more cells than the header")]
    cells = {k: (v or "").strip() for k, v in raw.items()}
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    external_id = cells.get("external_id", "")
    if not re.match(EXTERNAL_ID, external_id):
        errors["external_id"] = "use letters, digits and . _ : @ + - only, 100 at most"
    ref, address = cells.get("contact_external_ref", ""), cells.get("contact_email", "")
    key = ContactKey()
    if bool(ref) == bool(address):
        errors["contact"] = "fill exactly one of contact_external_ref and contact_email"
    elif ref:
        key = ContactKey(external_ref=ref)
    else:
        try:
            key = ContactKey(email=normalise_email(address))
        except InvalidAddress as exc:
            errors["contact_email"] = str(exc)
    for name in ("kind", "name", "plan", "currency", "renewal_url", "status"):
        if cells.get(name):
            fields[name] = cells[name]
    if not cells.get("name"):
        errors["name"] = "is required"
    if cells.get("expires_on"):
        try:
            if not DATE.match(cells["expires_on"]):
                raise ValueError
            fields["expires_on"] = date.fromisoformat(cells["expires_on"])
        except ValueError:
            errors["expires_on"] = f"{cells['expires_on']!r} is not a date (YYYY-MM-DD)"
    if cells.get("amount"):
        if AMOUNT.match(cells["amount"]):
            fields["amount"] = Decimal(cells["amount"])
        else:
            errors["amount"] = "write a number such as 1250000 or 19.99 (4 decimals at most)"
    if cells.get("attributes"):
        try:
            attributes = json.loads(cells["attributes"])
            if not isinstance(attributes, dict):
                raise ValueError
            fields["attributes"] = attributes
        except ValueError:
            errors["attributes"] = 'write a JSON object, e.g. {"registrar": "VNNIC"}'
    # The value rules too, so one report names every problem of the row.
    errors = {**check_fields(fields), **errors}
    if errors:
        return [RowError(line, f, m) for f, m in sorted(errors.items())]
    return Row(line, external_id, key, fields)


def import_cli(file: str, source: str, errors_path: str | None, progress: bool) -> bool:
    """The command; False when the file or any row failed."""
    path = Path(file)
    with path.open("rb") as counting:
        total = max(sum(1 for _ in counting) - 1, 0)
    report = BulkReport()
    try:
        with tqdm(total=total, unit="row", file=sys.stderr, disable=not progress) as bar:
            bulk_upsert(source, _rows(path, lambda: bar.update(1)), "cli", report)
    except FileRefused as exc:
        click.echo(f"{path.name}: {exc}. Nothing was imported.", err=True)
        return False
    except UnicodeDecodeError:
        click.echo(f"{path.name}: is not UTF-8 text. Rows before the fault are kept.", err=True)
        return False
    failed = len({e.line for e in report.errors})
    click.echo(
        f"{path.name}: {report.rows} rows: {report.created} created, {report.updated} updated, "
        f"{failed} failed"
    )
    for error in report.errors[:SHOWN_ERRORS]:
        click.echo(f"line {error.line}: {error.field}: {error.message}", err=True)
    if report.errors:
        target = Path(errors_path) if errors_path else path.with_suffix(".errors.csv")
        _write_errors(report.errors, target)
        click.echo(f"{len(report.errors)} problems in {failed} rows: {target}", err=True)
    return not report.errors


def _write_errors(errors: list[RowError], target: Path) -> None:
    # utf-8-sig so Excel shows Vietnamese text; cells that a spreadsheet would run are quoted.
    with target.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "field", "message"])
        for e in errors:
            message = "'" + e.message if e.message.startswith(FORMULA_START) else e.message
            writer.writerow([e.line, e.field, message])
