"""POST /notices (exactly once per Idempotency-Key), GET /notices/<id>, GET /notice-types."""

from __future__ import annotations

import re

from flask import Response, g, jsonify, request

from notifier.api.auth import require
from notifier.api.base import bp
from notifier.api.problems import ApiProblem, invalid
from notifier.api.representations import (
    accepted_json,
    notice_json,
    notice_type_json,
    status_url,
)
from notifier.api.schemas import MAX_ID
from notifier.api.validation import parse_date_time, read_json
from notifier.contacts import api_contacts
from notifier.notices import notices, types

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,150}$")


@bp.post("/notices")
@require("notices")
def create_notice() -> tuple[Response, int]:
    key = request.headers.get("Idempotency-Key", "")
    header_problem = (
        {}
        if IDEMPOTENCY_KEY.match(key)
        else {"Idempotency-Key": "header required: 1 to 150 visible ASCII characters"}
    )
    body = read_json(
        "NoticeRequest",
        also=lambda b: {
            **api_contacts.notice_type_problems(b.get("type")),
            **types.data_problems(b.get("type"), b.get("data")),
            **header_problem,
        },
    )
    if header_problem:
        raise invalid(header_problem)
    send_at = parse_date_time(body["send_at"]) if "send_at" in body else None
    try:
        result = api_contacts.submit_notice(
            body["type"], body["contact"], body["data"], send_at, key, g.api_key_id, body
        )
    except api_contacts.IdentityChangeRefused as exc:
        raise ApiProblem(
            403,
            str(exc),
            [
                {
                    "field": f"contact.{f}",
                    "detail": "only a key with the 'contacts' scope may "
                    "change this field of an existing contact",
                }
                for f in exc.fields
            ],
        ) from None
    answer = jsonify(accepted_json(result.notice))
    answer.headers["Location"] = status_url(result.notice)
    if not result.created:
        answer.headers["Idempotent-Replayed"] = "true"
    return answer, 202


@bp.get(f"/notices/<int(min=1, max={MAX_ID}):notice_id>")
@require("notices")
def notice_status(notice_id: int) -> Response:
    notice, external_ref = api_contacts.notice_status(notice_id, g.api_key_id)
    return jsonify(notice_json(notice, external_ref))


@bp.get("/notice-types")
@require("notices")
def notice_types() -> Response:
    return jsonify({"items": [notice_type_json(t) for t in api_contacts.notice_types()]})


# Writing a notice type wires a template to mail sent without advertising consent: it takes the
# `templates` scope (who may author templates), not `notices` (who may only trigger them).
@bp.post("/notice-types")
@require("templates")
def create_notice_type() -> tuple[Response, int]:
    body = read_json("NoticeTypeRequest")
    if types.exists(body["key"]):
        raise ApiProblem(409, f"notice type {body['key']!r} exists; change it with PUT")
    created = notices.define_notice_type(
        body["key"], body["name"], body["purpose"], body["template_id"]
    )
    return jsonify(notice_type_json(created)), 201


@bp.put("/notice-types/<string(maxlength=64):type_key>")
@require("templates")
def update_notice_type(type_key: str) -> Response:
    if not types.exists(type_key):
        raise ApiProblem(404, f"notice type {type_key!r} not found")
    body = read_json("NoticeTypeUpdate")
    changed = notices.define_notice_type(
        type_key, body["name"], body["purpose"], body["template_id"]
    )
    return jsonify(notice_type_json(changed))
