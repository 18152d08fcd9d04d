"""Contact import from CSV: a savepoint per row, consent only with evidence, safe to re-run."""

from __future__ import annotations

import csv
import difflib
import hashlib
import ipaddress
import re
import sys
import unicodedata
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from tqdm import tqdm

from notifier.contacts.consent_ledger import Evidence, append_grant, append_withdrawals
from notifier.contacts.contacts import (
    CONTROL,
    EDITABLE,
    clean_fields,
    find_by_email,
    find_by_external_ref,
    stage_contact,
)
from notifier.domain.errors import Conflict, DomainError, ValidationFailed
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import checkpoint
from notifier.models import ConsentSource, Contact, utcnow
from notifier.operations import audit

CHUNK = 500  # rows per commit: one transaction per row is ~10x slower on both databases
FIELDS = EDITABLE - {"attributes", "deal"}  # deal data is confidential and never comes from a file
EVIDENCE = ("consent_source", "consent_notice_version", "consent_collected_at", "consent_ip")
ATTR, CONSENT = "attr.", "consent."
YES = frozenset({"yes", "có", "co", "1", "true"})
NO = frozenset({"no", "không", "khong", "0", "false"})
TAG_SEPARATOR = re.compile(r"[,;]")
TEXT_LIMIT = 500
SHOWN_ERRORS = 10
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A catalogue key (the admin page shows it in Vietnamese or English); only staff imports refuse.
MOVE_REFUSED = "import_email_move_refused"


class ImportAborted(DomainError):
    """The file as a whole cannot be imported; nothing was written."""


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class RowError:
    line: int
    email: str  # as written in the file, so the person can find the row
    field: str
    message: str


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    granted: int = 0
    withdrawn: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        names = ("rows", "created", "updated", "unchanged", "granted", "withdrawn", "failed")
        return {name: getattr(self, name) for name in names}

    def fail(self, line: int, email: str, problems: dict[str, str]) -> None:
        self.failed += 1
        self.errors.extend(RowError(line, email, f, m) for f, m in problems.items())


@dataclass(frozen=True)
class Layout:
    """What each header column means, checked in a first pass before anything is written."""

    name: str
    delimiter: str
    columns: tuple[str, ...]
    fields: dict[str, str]  # column -> contact field
    attributes: dict[str, str]  # column -> attribute name
    consents: dict[str, str]  # column -> purpose key
    evidence: dict[str, str]  # evidence key -> column
    total: int
    sha256: str
    refused: tuple[str, ...] = ()  # columns the importing role may not write: ignored, named
    # Matching on external_ref may move a contact's address only for a role that may edit email.
    moves_email: bool = True


@dataclass(frozen=True)
class Row:
    data: dict[str, Any]
    attributes: dict[str, str]
    grants: tuple[str, ...]
    withdrawals: tuple[str, ...]
    evidence: Evidence


def read_layout(path: Path) -> Layout:
    """Read the whole file once: UTF-8, CSV syntax and header are checked, rows counted."""
    digest = hashlib.sha256()
    delimiter = _delimiter(path)
    rows = _rows(path, delimiter, digest.update)
    _, header = next(rows)
    total = sum(1 for _ in rows)
    if total == 0:
        raise ImportAborted("the file has a header row but no contacts")
    return _layout(path.name, delimiter, [h.strip() for h in header], total, digest.hexdigest())


def import_file(
    path: Path, *, actor: str = "system", on_row: Callable[[], object] | None = None
) -> ImportResult:
    return run_import(path, read_layout(path), actor=actor, on_row=on_row)


def run_import(
    path: Path, layout: Layout, *, actor: str = "system", on_row: Callable[[], object] | None = None
) -> ImportResult:
    result = ImportResult()
    rows = _rows(path, layout.delimiter)
    next(rows)  # the header, checked by read_layout
    _begin_chunk()
    for line, cells in rows:
        _import_row(layout, line, cells, result)
        if result.rows % CHUNK == 0:
            # Each chunk is a unit of work of its own, ended here on purpose: a file of 100,000
            # rows as one transaction would hold its locks for minutes and lose everything to
            # a failure near its end. Rows are idempotent (an unchanged row stays unchanged),
            # so running the file again after a failure finishes what is left.
            checkpoint()
            _begin_chunk()
        if on_row is not None:
            on_row()
    details = {"file": layout.name, **result.counts()}
    # The last chunk and this record commit with the caller's unit of work.
    audit.record(actor, "contacts.import", "import_file", layout.sha256, details)
    return result


def import_cli(file: str, errors_path: str | None = None, progress: bool = True) -> bool:
    """The `notifier contacts import` command; False when the file or any row failed."""
    path = Path(file)
    try:
        layout = read_layout(path)
    except ImportAborted as exc:
        click.echo(f"{path.name}: {exc}. Nothing was imported.", err=True)
        return False
    with tqdm(total=layout.total, unit="row", file=sys.stderr, disable=not progress) as bar:
        result = run_import(path, layout, actor="cli", on_row=bar.update)
    click.echo(_summary(layout.name, result))
    for error in result.errors[:SHOWN_ERRORS]:
        click.echo(f"line {error.line} ({error.email}): {error.field}: {error.message}", err=True)
    target = Path(errors_path) if errors_path else None
    if target is None and result.errors:
        target = path.with_suffix(".errors.csv")
    if target is not None:
        write_errors(result.errors, target)
        click.echo(f"{len(result.errors)} problems in {result.failed} rows: {target}", err=True)
    return result.failed == 0


def write_errors(errors: Iterable[RowError], target: Path) -> None:
    # utf-8-sig so Excel shows Vietnamese names correctly when the report is opened.
    with target.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "email", "field", "message"])
        for e in errors:
            writer.writerow([e.line, _cell(e.email), _cell(e.field), _cell(e.message)])


def _cell(text: str) -> str:
    # A spreadsheet runs a cell starting with these as a formula (CSV injection).
    return "'" + text if text.startswith(FORMULA_START) else text


def _summary(name: str, result: ImportResult) -> str:
    return (
        f"{name}: {result.rows} rows: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.failed} failed; consent: {result.granted} "
        f"granted, {result.withdrawn} withdrawn"
    )


def _decoded(path: Path, on_bytes: Callable[[bytes], object] | None) -> Generator[str, None, None]:
    # Decoding line by line (not in 8 KiB chunks) names the exact line that is not UTF-8.
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            if on_bytes is not None:
                on_bytes(line)
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise ImportAborted(
                    f"line {number} is not UTF-8 text; in Excel use Save As 'CSV UTF-8'"
                ) from None
            yield text.removeprefix("\ufeff") if number == 1 else text


def _delimiter(path: Path) -> str:
    lines = _decoded(path, None)
    first = next(lines, "")
    lines.close()
    if not first.strip():
        raise ImportAborted("the file is empty or its first line is blank; it must be the header")
    # Header names never contain either character, so the more frequent one separates them.
    return ";" if first.count(";") > first.count(",") else ","


def _rows(
    path: Path, delimiter: str, on_bytes: Callable[[bytes], object] | None = None
) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells), header first; rows with only blank cells skipped."""
    # strict: a stray quote would otherwise swallow every later line into one cell.
    reader = csv.reader(_decoded(path, on_bytes), delimiter=delimiter, strict=True)
    line = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield line, cells
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportAborted(f"line {line}: {exc}") from None


def _layout(name: str, delimiter: str, header: list[str], total: int, sha256: str) -> Layout:
    keys = [h.lower() for h in header]
    twice = sorted({h for h, k in zip(header, keys, strict=True) if keys.count(k) > 1})
    if twice:
        raise ImportAborted(f"columns appear more than once: {', '.join(twice)}")
    if "email" not in keys:
        raise ImportAborted(f"the header has no 'email' column (found: {', '.join(header)})")
    purposes = [p.key for p in profile().purposes]
    fields: dict[str, str] = {}
    attributes: dict[str, str] = {}
    consents: dict[str, str] = {}
    evidence: dict[str, str] = {}
    unknown: list[str] = []
    for column, key in zip(header, keys, strict=True):
        if key in FIELDS:
            fields[column] = key
        elif key in EVIDENCE:
            evidence[key] = column
        elif key.startswith(ATTR) and column[len(ATTR) :].strip():
            attributes[column] = column[len(ATTR) :].strip()
        elif key.startswith(CONSENT) and key[len(CONSENT) :] in purposes:
            consents[column] = key[len(CONSENT) :]
        else:
            unknown.append(column)
    if unknown:
        raise ImportAborted(_unknown_columns(unknown, purposes))
    return Layout(
        name, delimiter, tuple(header), fields, attributes, consents, evidence, total, sha256
    )


def restrict(layout: Layout, writes: Callable[[str], bool], moves_email: bool) -> Layout:
    """Keep only the columns whose field the role may write (consent and its evidence count as
    "consent", attr.* as "attributes"); the rest are refused before any row is read."""
    if not writes("email"):
        raise ImportAborted("your role may not write the email column, which every import needs")
    fields = {c: f for c, f in layout.fields.items() if writes(f)}
    attributes = layout.attributes if writes("attributes") else {}
    consents = layout.consents if writes("consent") else {}
    evidence = layout.evidence if writes("consent") else {}
    kept = {*fields, *attributes, *consents, *evidence.values()}
    refused = tuple(c for c in layout.columns if c not in kept)
    return replace(
        layout, fields=fields, attributes=attributes, consents=consents, evidence=evidence,
        refused=refused, moves_email=moves_email,
    )  # fmt: skip


def _unknown_columns(unknown: list[str], purposes: list[str]) -> str:
    known = [*sorted(FIELDS), *EVIDENCE, *(CONSENT + p for p in purposes)]
    described = []
    for column in unknown:
        close = difflib.get_close_matches(column.lower(), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        described.append(f"'{column}'{hint}")
    return (
        f"unknown columns: {', '.join(described)}. Allowed: {', '.join(sorted(FIELDS))}, "
        f"{', '.join(EVIDENCE)}, attr.<name>, consent.<purpose> with a purpose of "
        f"this profile: {', '.join(purposes)}"
    )


def _begin_chunk() -> None:
    # pysqlite opens a transaction only before INSERT/UPDATE, so the first SAVEPOINT would open
    # it and RELEASE would then commit each row on its own: begin explicitly instead.
    connection = db.session.connection()
    dbapi = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite" and not getattr(dbapi, "in_transaction", True):
        connection.exec_driver_sql("BEGIN")


def _import_row(layout: Layout, line: int, cells: list[str], result: ImportResult) -> None:
    result.rows += 1
    values = dict(zip(layout.columns, (c.strip() for c in cells), strict=False))
    email = next(values.get(c, "") for c, f in layout.fields.items() if f == "email")
    extra = [c for c in cells[len(layout.columns) :] if c.strip()]
    if extra:
        problem = f"has {len(cells)} cells but the header has {len(layout.columns)}"
        result.fail(line, email, {"row": problem})
        return
    try:
        row = _parse(layout, line, values, email)
        with db.session.begin_nested():
            outcome, granted, withdrawn = _apply(row, layout.moves_email)
    except ValidationFailed as exc:
        result.fail(line, email, exc.errors)
        return
    except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
        # A concurrent edit (the same address added on the web meanwhile) fails only this row.
        result.fail(line, email, {"row": f"the database refused it: {exc.orig}"})
        return
    setattr(result, outcome.value, getattr(result, outcome.value) + 1)
    result.granted += granted
    result.withdrawn += withdrawn


def _parse(layout: Layout, line: int, values: dict[str, str], email: str) -> Row:
    """Every problem of the row at once, before anything touches the database."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {f: values[c] for c, f in layout.fields.items() if values.get(c)}
    if "tags" in data:
        data["tags"] = TAG_SEPARATOR.split(data["tags"])
    try:
        data = clean_fields(data)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if not email:
        errors["email"] = "is required"
    attributes = {a: values[c] for c, a in layout.attributes.items() if values.get(c)}
    for column, value in attributes.items():
        if CONTROL.search(value) or len(value) > TEXT_LIMIT:
            errors[ATTR + column] = f"control characters or longer than {TEXT_LIMIT} characters"
    grants, withdrawals = _choices(layout, values, errors)
    extra = {"import_sha256": layout.sha256, "import_line": line}
    evidence = _evidence(layout, values, bool(grants), errors, extra)
    if errors:
        raise ValidationFailed(errors)
    return Row(data, attributes, grants, withdrawals, evidence)


def _choices(
    layout: Layout, values: dict[str, str], errors: dict[str, str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    grants, withdrawals = [], []
    for column, purpose in layout.consents.items():
        answer = unicodedata.normalize("NFC", values.get(column, "").lower())
        if answer in YES:
            grants.append(purpose)
        elif answer in NO:
            withdrawals.append(purpose)
        elif answer:
            errors[column] = (
                f"{values[column]!r} is not yes or no (có/không, 1/0, true/false also work); "
                "leave it blank to record nothing"
            )
    return tuple(grants), tuple(withdrawals)


def _evidence(
    layout: Layout,
    values: dict[str, str],
    granting: bool,
    errors: dict[str, str],
    extra: dict[str, Any],
) -> Evidence:
    given = {key: values.get(layout.evidence.get(key, ""), "") for key in EVIDENCE}
    for key in EVIDENCE[:3]:
        if granting and not given[key]:
            errors[key] = (
                "is required when a consent column says yes: an import grants consent only "
                "with its original source, the notice version shown and when it was collected"
            )
        elif CONTROL.search(given[key]) or len(given[key]) > 200:
            errors[key] = "control characters or longer than 200 characters"
    return Evidence(
        source=ConsentSource.IMPORT,
        reference=given["consent_source"] or None,
        occurred_at=_moment(given["consent_collected_at"], errors),
        notice_version=given["consent_notice_version"] or None,
        ip=_ip(given["consent_ip"], errors),
        extra=extra,
    )


def _moment(text: str, errors: dict[str, str]) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        errors["consent_collected_at"] = (
            f"{text!r} is not an ISO 8601 time such as 2024-05-01T09:30:00+07:00"
        )
        return None
    # A time without an offset is read as UTC, as documented in docs/import.md.
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > utcnow():
        errors["consent_collected_at"] = f"{text} is in the future"
    return moment


def _ip(text: str, errors: dict[str, str]) -> str | None:
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        errors["consent_ip"] = f"{text!r} is not an IPv4 or IPv6 address"
        return None


def _apply(row: Row, moves_email: bool) -> tuple[Outcome, int, int]:
    """Inside the row's savepoint: any exception undoes the contact and its consent alike."""
    existing = _existing(row.data)
    if existing is not None and existing.email != row.data["email"] and not moves_email:
        raise ValidationFailed({"email": MOVE_REFUSED})
    # An unchanged contact is not staged again: re-imports then cost one query per row.
    if existing is not None and not _differs(existing, row):
        contact, created, changed = existing, False, False
    else:
        (contact, created), changed = _stage(row, existing), True
    # The notice text recorded is the one in the contact's language.
    evidence = replace(row.evidence, locale=contact.locale)
    granted = sum(_grant(contact, purpose, evidence) for purpose in row.grants)
    withdrawn = len(append_withdrawals(contact, row.withdrawals, evidence).events)
    if created:
        return Outcome.CREATED, granted, withdrawn
    updated = changed or granted or withdrawn
    return (Outcome.UPDATED if updated else Outcome.UNCHANGED), granted, withdrawn


def _stage(row: Row, existing: Contact | None) -> tuple[Contact, bool]:
    data = dict(row.data)
    if row.attributes:
        # Attribute columns add to the contact's attributes; those not in the file stay.
        data["attributes"] = {**(existing.attributes if existing else {}), **row.attributes}
    try:
        return stage_contact(data)
    except Conflict as exc:
        raise ValidationFailed({"external_ref": str(exc)}) from None


def _differs(contact: Contact, row: Row) -> bool:
    if any(contact.attributes.get(k) != v for k, v in row.attributes.items()):
        return True
    if "tags" in row.data and row.data["tags"] != contact.tag_names:
        return True
    return any(getattr(contact, f) != v for f, v in row.data.items() if f != "tags")


def _grant(contact: Contact, purpose: str, evidence: Evidence) -> bool:
    try:
        return append_grant(contact, purpose, evidence) is not None
    except DomainError as exc:
        raise ValidationFailed({CONSENT + purpose: str(exc)}) from None


def _existing(data: dict[str, Any]) -> Contact | None:
    contact = find_by_email(data["email"])
    if contact is None and data.get("external_ref"):
        contact = find_by_external_ref(data["external_ref"])
    return contact
