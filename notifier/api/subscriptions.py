"""Subscriptions (the services each contact holds): PUT one by its external id, POST many as
NDJSON streamed line by line, GET one, GET a contact's.

Rows belong to the source that sent them, the API key's name: a key sees and changes only the
rows of keys of its name (a billing system rotating its key keeps its rows), and another
source's id answers 404 as if there were none.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

from flask import Response, g, jsonify, request
from pydantic import ValidationError

from notifier.api.base import bp
from notifier.api.body import hostile_strings, max_bulk_rows, may_be_hostile
from notifier.api.fields import EXTERNAL_REF
from notifier.api.problems import ApiProblem, response, validation_errors
from notifier.api.schemas import (
    BulkResult,
    SubscriptionFields,
    SubscriptionList,
    SubscriptionRow,
)
from notifier.api.schemas import Subscription as SubscriptionAnswer
from notifier.api.spec import body, operation
from notifier.contacts import subscriptions
from notifier.contacts.subscriptions import ContactKey, Row, RowError
from notifier.domain.subscriptions import EXTERNAL_ID

NDJSON = "application/x-ndjson"
# Fields checked against stored state: the contact must exist, a cancelled row stays cancelled.
STATE_CHECKED = ("contact", "contact.external_ref", "contact.email", "status")
_ID = re.compile(EXTERNAL_ID)
_REF = re.compile(EXTERNAL_REF)
MAX_LINE_BYTES = 16 * 1024  # one row; a longer line is refused without being parsed
# What the body is read ahead by: werkzeug's LimitedStream (request.stream under a body limit)
# is a raw stream whose readline reads one byte a call, about 20 s for 20,000 rows.
READ_AHEAD = 64 * 1024


def _id(external_id: str) -> str:
    if not _ID.match(external_id):
        raise ApiProblem(404, "no subscription has this external_id")
    return external_id


def _row(line: int, external_id: str, given: SubscriptionFields) -> Row:
    contact = given.contact
    key = ContactKey(
        external_ref=getattr(contact, "external_ref", None), email=getattr(contact, "email", None)
    )
    fields = {
        name: getattr(given, name)
        for name in subscriptions.FIELDS
        if getattr(given, name) is not None
    }
    return Row(line, external_id, key, fields)


@bp.put("/subscriptions/<external_id>")
@operation(
    "subscriptions",
    {200: (SubscriptionAnswer, "Replaced."), 201: (SubscriptionAnswer, "Created.")},
    json=SubscriptionFields,
    state_checked=STATE_CHECKED,
)
def put_subscription(external_id: str) -> tuple[Response, int]:
    """Create or replace one subscription by your id (idempotent)"""
    row = _row(1, _id(external_id), body(SubscriptionFields))
    source = subscriptions.source_of(g.api_key_id)
    sub, created = subscriptions.upsert(source, row, f"api:{g.api_key_id}")
    return jsonify(subscriptions.api_view(sub)), 201 if created else 200


@bp.get("/subscriptions/<external_id>")
@operation("subscriptions", {200: (SubscriptionAnswer, "The subscription.")})
def get_subscription(external_id: str) -> Response:
    """One subscription"""
    source = subscriptions.source_of(g.api_key_id)
    sub, _ = subscriptions.get(source, _id(external_id))
    return jsonify(subscriptions.api_view(sub))


@bp.get("/contacts/<external_ref>/subscriptions")
@operation("subscriptions", {200: (SubscriptionList, "The contact's subscriptions.")})
def contact_subscriptions(external_ref: str) -> Response:
    """A contact's subscriptions (the ones your key's source sent), soonest expiry first"""
    if not _REF.match(external_ref):
        raise ApiProblem(404, "no contact has this external_ref")
    source = subscriptions.source_of(g.api_key_id)
    _, rows = subscriptions.for_contact(source, ContactKey(external_ref=external_ref))
    return jsonify({"items": [subscriptions.api_view(s) for s in rows]})


@bp.post("/subscriptions/bulk")
@operation(
    "subscriptions",
    {200: (BulkResult, "Every row written.")},
    raw_body=(NDJSON, SubscriptionRow, max_bulk_rows),
    state_checked=tuple(f"[].{name}" for name in STATE_CHECKED),
)
def bulk_subscriptions() -> Response:
    """Upsert many subscriptions (API_MAX_BULK_ROWS, 100,000 by default), one JSON object a
    line (NDJSON), read as streamed"""
    if request.mimetype != NDJSON:
        raise ApiProblem(415, f"send the rows as {NDJSON}, one JSON object a line")
    source = subscriptions.source_of(g.api_key_id)
    stream = _buffered(request.stream)
    try:
        report = subscriptions.bulk_upsert(
            source,
            subscriptions.bounded(_rows(stream), max_bulk_rows()),
            f"api:{g.api_key_id}",
        )
    finally:
        if isinstance(stream, io.BufferedReader):
            stream.detach()  # the request's own stream stays open for whoever reads it next
    errors = [
        {"line": e.line, "field": f"[{e.line - 1}].{e.field}", "detail": e.message}
        for e in report.errors
    ]
    if errors:
        # Returned, not raised: the good rows are written (each whole) and commit with the
        # request's unit of work; the answer names every bad one.
        count = len(errors)
        detail = f"{count} problem{'s' if count != 1 else ''} in the rows; the others are written"
        return response(ApiProblem(422, detail, errors))
    answer = {"rows": report.rows, "created": report.created, "updated": report.updated}
    return jsonify({**answer, "errors": []})


def _buffered(stream: Any) -> Any:
    """Lines read from a buffer, as many as it holds a call, when the stream is a raw one;
    the body limit still holds (the raw stream counts what the buffer reads from it)."""
    if isinstance(stream, io.RawIOBase):
        return io.BufferedReader(stream, READ_AHEAD)
    return stream


def _rows(stream: Any) -> Iterator[Row | list[RowError]]:
    """Each line parsed and checked on its own; a body of 100,000 rows is never held whole."""
    line = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        line += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            yield [RowError(line, "body", f"the line is longer than {MAX_LINE_BYTES} bytes")]
            _skip_rest_of_line(stream)
            continue
        if not raw.strip():
            line -= 1  # blank lines (a trailing newline) are not rows
            continue
        yield _parsed(line, raw)


def _skip_rest_of_line(stream: Any) -> None:
    while True:
        rest = stream.readline(MAX_LINE_BYTES)
        if not rest or rest.endswith(b"\n"):
            return


def _parsed(line: int, raw: bytes) -> Row | list[RowError]:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    try:
        value = json.loads(raw, parse_constant=refuse)
    except (ValueError, RecursionError):
        return [RowError(line, "body", "the line is not a JSON object")]
    if not isinstance(value, dict):
        return [RowError(line, "body", "the line is not a JSON object")]
    problems = hostile_strings(value) if may_be_hostile(raw) else {}
    if not problems:
        try:
            given = SubscriptionRow.model_validate(value)
        except ValidationError as exc:
            problems = validation_errors(exc)
        else:
            return _row(line, given.external_id, given)
    return [RowError(line, field, message) for field, message in sorted(problems.items())]
