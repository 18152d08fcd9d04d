"""Contacts by external_ref: upsert, patch, read, and consent state with its history."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, jsonify

from notifier.api.auth import require
from notifier.api.base import bp
from notifier.api.problems import ApiProblem
from notifier.api.representations import consents_json, contact_json
from notifier.api.schemas import EXTERNAL_REF
from notifier.api.validation import read_json
from notifier.contacts import api_contacts

_REF = re.compile(EXTERNAL_REF["pattern"])


def _ref(external_ref: str) -> str:
    if not _REF.match(external_ref):
        raise ApiProblem(404, "no contact has this external_ref")
    return external_ref


def _changes(body: dict[str, Any]) -> list[api_contacts.ConsentChange]:
    return [
        api_contacts.ConsentChange(c["purpose"], c["action"], c.get("evidence"))
        for c in body.pop("consents", [])
    ]


@bp.post("/contacts")
@require("contacts")
def upsert_contact() -> tuple[Response, int]:
    body = read_json("ContactCreate", also=api_contacts.field_problems)
    changes = _changes(body)
    ref = body.pop("external_ref")
    contact, created = api_contacts.upsert_contact(ref, body, changes, g.api_key_id)
    return jsonify(contact_json(contact)), 201 if created else 200


@bp.patch("/contacts/<external_ref>")
@require("contacts")
def patch_contact(external_ref: str) -> Response:
    ref = _ref(external_ref)
    body = read_json("ContactPatch", also=api_contacts.field_problems)
    changes = _changes(body)
    contact, _ = api_contacts.upsert_contact(ref, body, changes, g.api_key_id, must_exist=True)
    return jsonify(contact_json(contact))


@bp.get("/contacts/<external_ref>")
@require("contacts")
def get_contact(external_ref: str) -> Response:
    return jsonify(contact_json(api_contacts.view_contact(_ref(external_ref), g.api_key_id)))


@bp.get("/contacts/<external_ref>/consents")
@require("contacts")
def get_consents(external_ref: str) -> Response:
    overview = api_contacts.consent_overview(_ref(external_ref), g.api_key_id)
    return jsonify(consents_json(overview))
