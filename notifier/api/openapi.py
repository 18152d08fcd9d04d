"""The OpenAPI 3.1 document: the contract the tests hold every response to."""

from __future__ import annotations

from functools import cache
from typing import Any

from notifier.api.schemas import COMPONENTS, EXTERNAL_REF, MAX_ID, ref

PROBLEM = {"application/problem+json": {"schema": ref("Problem")}}
ERRORS = {
    "400": "The body is not JSON.",
    "401": "A missing, wrong or revoked API key (the answer does not say which).",
    "403": "The key lacks the scope this operation needs.",
    "404": "No such resource.",
    "409": "Conflicts with the current state: an Idempotency-Key reused with another body, a "
    "state change that is not allowed, an address that belongs to another contact.",
    "413": "The body is larger than the limit (256 KiB by default).",
    "415": "The body is not application/json.",
    "422": "Fields failed validation: `errors` names each one.",
    "429": "Too many requests for this key: wait the seconds in Retry-After.",
}


def _problems(*codes: str) -> dict[str, Any]:
    return {code: {"description": ERRORS.get(code, ""), "content": PROBLEM} for code in codes}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def _operation(
    scope: str,
    summary: str,
    responses: dict[str, Any],
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    body_required: bool = True,
) -> dict[str, Any]:
    codes = ["401", "403", "429"] + (["400", "413", "415", "422"] if body else [])
    if params and any(p["in"] == "path" for p in params):
        codes.append("404")
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"apiKey": []}],
        "x-scope": scope,
        "responses": {**responses, **_problems(*codes)},
    }
    if body:
        operation["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": ref(body)}},
        }
    if params:
        operation["parameters"] = params
    return operation


def _path_id(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


EXTERNAL_REF_PARAM = {
    "name": "external_ref",
    "in": "path",
    "required": True,
    "schema": EXTERNAL_REF,
}
NOTICE_TYPE_KEY = {
    "name": "key",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$"},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "Your unique id for this request: a retry with the same key and body gets "
    "the same answer and never a second email; the same key with another body gets 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 150, "pattern": "^[\\x21-\\x7e]+$"},
}


def _campaign_action(verb: str, summary: str, body: str | None = None) -> dict[str, Any]:
    return {
        "post": _operation(
            "campaigns",
            summary,
            {"200": _json("Campaign", f"The campaign, {verb}."), **_problems("409")},
            body=body,
            params=[_path_id("campaign_id")],
            body_required=False,
        )
    }


def _paths() -> dict[str, Any]:
    return {
        "/notices": {
            "post": _operation(
                "notices",
                "Trigger a transactional notice (e.g. a renewal) for a contact, exactly once",
                {
                    "202": _json("NoticeAccepted", "Queued; poll status_url for the outcome."),
                    **_problems("409"),
                },
                body="NoticeRequest",
                params=[IDEMPOTENCY_KEY],
            )
        },
        "/notices/{notice_id}": {
            "get": _operation(
                "notices",
                "A notice's status: queued, sent, skipped (with the reason) or failed",
                {"200": _json("Notice", "The notice.")},
                params=[_path_id("notice_id")],
            )
        },
        "/notice-types": {
            "get": _operation(
                "notices",
                "The notice types you may trigger",
                {"200": _json("NoticeTypeList", "Active notice types.")},
            ),
            "post": _operation(
                "templates",
                "Define a notice type: a key, a service purpose and a template for it",
                {"201": _json("NoticeType", "Created."), **_problems("409")},
                body="NoticeTypeRequest",
            ),
        },
        "/notice-types/{key}": {
            "put": _operation(
                "templates",
                "Change a notice type's name, purpose or template (reactivates it)",
                {"200": _json("NoticeType", "Updated.")},
                body="NoticeTypeUpdate",
                params=[NOTICE_TYPE_KEY],
            )
        },
        "/contacts": {
            "post": _operation(
                "contacts",
                "Create or update a contact by external_ref, optionally recording consent",
                {
                    "200": _json("Contact", "Updated."),
                    "201": _json("Contact", "Created."),
                    **_problems("409"),
                },
                body="ContactCreate",
            )
        },
        "/contacts/{external_ref}": {
            "get": _operation(
                "contacts",
                "A contact",
                {"200": _json("Contact", "The contact.")},
                params=[EXTERNAL_REF_PARAM],
            ),
            "patch": _operation(
                "contacts",
                "Change some fields of a contact, or record consent changes",
                {"200": _json("Contact", "Updated."), **_problems("409")},
                body="ContactPatch",
                params=[EXTERNAL_REF_PARAM],
            ),
        },
        "/contacts/{external_ref}/consents": {
            "get": _operation(
                "contacts",
                "Current consent per purpose and the full history",
                {"200": _json("ConsentOverview", "Consent state and history.")},
                params=[EXTERNAL_REF_PARAM],
            )
        },
        "/templates": {
            "post": _operation(
                "templates",
                "Save a template: it is compiled and rendered for a sample contact first",
                {"201": _json("Template", "Saved.")},
                body="TemplateRequest",
            )
        },
        "/templates/{template_id}": {
            "get": _operation(
                "templates",
                "A template",
                {"200": _json("Template", "The template.")},
                params=[_path_id("template_id")],
            )
        },
        "/campaigns": {
            "post": _operation(
                "campaigns",
                "Create a draft campaign",
                {"201": _json("Campaign", "Created as a draft.")},
                body="CampaignRequest",
            )
        },
        "/campaigns/{campaign_id}": {
            "get": _operation(
                "campaigns",
                "A campaign's status with counters by outcome and reason",
                {"200": _json("Campaign", "The campaign.")},
                params=[_path_id("campaign_id")],
            )
        },
        "/campaigns/{campaign_id}/schedule": _campaign_action(
            "scheduled",
            "Schedule now, or at send_at (with an offset, or local in time_zone)",
            body="ScheduleRequest",
        ),
        "/campaigns/{campaign_id}/pause": _campaign_action("paused", "Pause sending"),
        "/campaigns/{campaign_id}/resume": _campaign_action("resumed", "Resume sending"),
        "/campaigns/{campaign_id}/cancel": _campaign_action(
            "cancelled", "Cancel: unsent deliveries are skipped with a reason"
        ),
    }


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "notifier API",
            "version": "1.0.0",
            "description": "Renewal notices, contacts with consent evidence, templates and "
            "campaigns. Authenticate with `Authorization: Bearer <key>`; each key has scopes "
            "(notices, contacts, campaigns, templates). Errors are RFC 9457 problem details.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": []}],
        "paths": _paths(),
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }
