"""Contacts by external_ref: upsert, patch, read, and consent state with its history."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, jsonify

from notifier.api.base import bp
from notifier.api.fields import EXTERNAL_REF
from notifier.api.problems import ApiProblem
from notifier.api.schemas import ConsentOverview as ConsentOverviewAnswer
from notifier.api.schemas import Contact, ContactCreate, ContactFields, ContactPatch
from notifier.api.spec import body, operation
from notifier.contacts import api_contacts
from notifier.contacts.views import consents_view, contact_view

_REF = re.compile(EXTERNAL_REF)
# Checked against stored state: the purpose's current notice version, a collection time that
# is not in the future nor older than the person's withdrawal.
CONSENT_STATE = ("consents[].evidence",)


def _ref(external_ref: str) -> str:
    if not _REF.match(external_ref):
        raise ApiProblem(404, "no contact has this external_ref")
    return external_ref


def _split(fields: ContactFields) -> tuple[dict[str, Any], list[api_contacts.ConsentChange]]:
    given = fields.model_dump(mode="json", exclude_unset=True)
    changes = [
        api_contacts.ConsentChange(c["purpose"], c["action"], c.get("evidence"))
        for c in given.pop("consents", [])
    ]
    return given, changes


@bp.post("/contacts")
@operation(
    "contacts",
    {200: (Contact, "Updated."), 201: (Contact, "Created.")},
    json=ContactCreate,
    errors=(409,),
    state_checked=CONSENT_STATE,
)
def upsert_contact() -> tuple[Response, int]:
    """Create or update a contact by external_ref, optionally recording consent"""
    fields, changes = _split(body(ContactCreate))
    ref = fields.pop("external_ref")
    contact, created = api_contacts.upsert_contact(ref, fields, changes, g.api_key_id)
    return jsonify(contact_view(contact)), 201 if created else 200


@bp.patch("/contacts/<external_ref>")
@operation(
    "contacts",
    {200: (Contact, "Updated.")},
    json=ContactPatch,
    errors=(409,),
    state_checked=CONSENT_STATE,
)
def patch_contact(external_ref: str) -> Response:
    """Change some fields of a contact, or record consent changes"""
    ref = _ref(external_ref)
    fields, changes = _split(body(ContactPatch))
    contact, _ = api_contacts.upsert_contact(ref, fields, changes, g.api_key_id, must_exist=True)
    return jsonify(contact_view(contact))


@bp.get("/contacts/<external_ref>")
@operation("contacts", {200: (Contact, "The contact.")})
def get_contact(external_ref: str) -> Response:
    """A contact"""
    return jsonify(contact_view(api_contacts.view_contact(_ref(external_ref), g.api_key_id)))


@bp.get("/contacts/<external_ref>/consents")
@operation("contacts", {200: (ConsentOverviewAnswer, "Consent state and history.")})
def get_consents(external_ref: str) -> Response:
    """Current consent per purpose and the full history"""
    overview = api_contacts.consent_overview(_ref(external_ref), g.api_key_id)
    return jsonify(consents_view(overview))
