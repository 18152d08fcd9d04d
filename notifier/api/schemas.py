"""JSON Schemas (2020-12) of every API body: the OpenAPI components and the request validators."""

from __future__ import annotations

from typing import Any

from notifier.models import CampaignKind, CampaignStatus, NoticeStatus

MAX_ID = 2_147_483_647
# Printable text on one line: no control characters reach a header, a column or a log line.
LINE = r"^[^\x00-\x1f\x7f]*$"
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # multi-line text: tabs and line breaks allowed
GRANT_CHANNELS = ["web_form", "signup", "preference_center", "hotline", "staff", "import"]


def line(max_length: int, min_length: int = 0) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": max_length, "pattern": LINE}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return {**schema, **extra}


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
EXTERNAL_REF = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9_:@+-][A-Za-z0-9._:@+-]{0,99}$",
    "description": "Your own id of the customer (billing account): letters, digits, . _ : @ + -",
}
EMAIL = {"type": "string", "format": "email", "maxLength": 254}
LOCALE = {"type": "string", "enum": ["vi", "en"]}
DATE = {"type": "string", "format": "date"}
DATE_TIME = {"type": "string", "format": "date-time", "description": "RFC 3339, with an offset."}
SCALAR = {"anyOf": [line(500), {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}
ATTRIBUTES = {
    "type": "object",
    "maxProperties": 50,
    "propertyNames": {"maxLength": 64, "pattern": r"^[\w.-]+$"},
    "additionalProperties": SCALAR,
}
TAGS = {
    "type": "array",
    "maxItems": 50,
    "items": {"type": "string", "pattern": r"^[\w.-]{1,64}$"},
}

CONTACT_FIELDS: dict[str, Any] = {
    "email": EMAIL,
    "name": line(200),
    "phone": line(40),
    "address": line(500),
    "organisation": line(200),
    "contact_person": line(200),
    "locale": LOCALE,
    "time_zone": line(64, 1),
    "contract_ends_on": nullable(DATE),
    "tags": TAGS,
    "attributes": ATTRIBUTES,
}

EVIDENCE = obj(
    {
        "source": {
            "type": "string",
            "enum": GRANT_CHANNELS,
            "description": "The channel where the person agreed.",
        },
        "notice_version": line(64, 1),
        "collected_at": DATE_TIME,
        "ip": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
        "user_agent": line(500),
        "staff_ref": {
            **line(100, 1),
            "description": "Who recorded it, e.g. a call-centre agent id.",
        },
    },
    ("source", "notice_version", "collected_at"),
    anyOf=[{"required": ["ip"]}, {"required": ["staff_ref"]}],
)

CONSENT_CHANGE = obj(
    {
        "purpose": line(64, 1),
        "action": {"type": "string", "enum": ["grant", "withdraw"]},
        "evidence": EVIDENCE,
    },
    ("purpose", "action"),
    description="A grant needs evidence; a withdrawal needs none.",
    **{"if": {"properties": {"action": {"const": "grant"}}}, "then": {"required": ["evidence"]}},
)

CONSENTS = {"type": "array", "maxItems": 20, "items": CONSENT_CHANGE}

NOTICE_TYPE = obj(
    {"key": {"type": "string"}, "name": {"type": "string"}, "purpose": {"type": "string"}},
    ("key", "name", "purpose"),
)

COMPONENTS: dict[str, dict[str, Any]] = {
    "Problem": obj(
        {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": obj(
                    {
                        "field": {"type": "string"},
                        "detail": {"type": "string"},
                        "line": nullable({"type": "integer"}),
                        "count": {"type": "integer", "minimum": 0},
                        "examples": {"type": "array", "items": {"type": "string"}},
                    },
                    ("field", "detail"),
                ),
            },
        },
        ("type", "title", "status"),
        description="RFC 9457 problem details; `errors` names every bad field.",
    ),
    "ContactCreate": obj(
        {"external_ref": EXTERNAL_REF, **CONTACT_FIELDS, "consents": CONSENTS},
        ("external_ref", "email"),
    ),
    "ContactPatch": obj({**CONTACT_FIELDS, "consents": CONSENTS}),
    "Contact": obj(
        {
            "external_ref": {"type": "string"},
            "email": nullable({"type": "string"}),
            "name": {"type": "string"},
            "phone": {"type": "string"},
            "address": {"type": "string"},
            "organisation": {"type": "string"},
            "contact_person": {"type": "string"},
            "locale": {"type": "string"},
            "time_zone": {"type": "string"},
            "contract_ends_on": nullable(DATE),
            "tags": {"type": "array", "items": {"type": "string"}},
            "attributes": {"type": "object"},
            "created_at": DATE_TIME,
            "updated_at": DATE_TIME,
        },
        ("external_ref", "email", "name", "locale", "contract_ends_on", "tags", "attributes"),
    ),
    "ConsentOverview": obj(
        {
            "external_ref": {"type": "string"},
            "purposes": {
                "type": "array",
                "items": obj(
                    {
                        "purpose": {"type": "string"},
                        "kind": {"type": "string", "enum": ["advertising", "service"]},
                        "status": {
                            "type": "string",
                            "enum": ["none", "pending", "granted", "withdrawn"],
                        },
                    },
                    ("purpose", "kind", "status"),
                ),
            },
            "history": {"type": "array", "items": ref("ConsentEvent")},
        },
        ("external_ref", "purposes", "history"),
    ),
    "ConsentEvent": obj(
        {
            "id": {"type": "integer"},
            "purpose": {"type": "string"},
            "action": {"type": "string", "enum": ["request", "grant", "withdraw"]},
            "source": {"type": "string"},
            "occurred_at": DATE_TIME,
            "recorded_at": DATE_TIME,
            "notice_version": nullable({"type": "string"}),
            "locale": nullable({"type": "string"}),
        },
        ("id", "purpose", "action", "source", "occurred_at", "recorded_at"),
    ),
    "NoticeRequest": obj(
        {
            "type": {**line(64, 1), "description": "A notice type key, see GET /notice-types."},
            "contact": obj(
                {
                    "external_ref": EXTERNAL_REF,
                    "email": EMAIL,
                    "name": line(200),
                    "locale": LOCALE,
                },
                ("external_ref", "email"),
            ),
            "data": {
                **ATTRIBUTES,
                "maxProperties": 100,
                "description": "Values for the template: service_name, expires_on, amount, ...",
            },
            "send_at": DATE_TIME,
        },
        ("type", "contact", "data"),
    ),
    "NoticeAccepted": obj(
        {
            "id": {"type": "integer"},
            "type": {"type": "string"},
            "status_url": {"type": "string"},
            "created_at": DATE_TIME,
        },
        ("id", "type", "status_url", "created_at"),
    ),
    "Notice": obj(
        {
            "id": {"type": "integer"},
            "type": {"type": "string"},
            "status": {"type": "string", "enum": [s.value for s in NoticeStatus]},
            "reason": nullable({"type": "string"}),
            "external_ref": nullable({"type": "string"}),
            "created_at": DATE_TIME,
            "send_at": nullable(DATE_TIME),
            "sent_at": nullable(DATE_TIME),
            "message_id": nullable({"type": "string"}),
            "smtp_code": nullable({"type": "integer"}),
            "smtp_message": nullable({"type": "string"}),
            "attempts": {"type": "integer"},
        },
        ("id", "type", "status", "reason", "created_at", "sent_at", "message_id", "smtp_code"),
    ),
    "NoticeTypeList": obj({"items": {"type": "array", "items": NOTICE_TYPE}}, ("items",)),
    "NoticeType": NOTICE_TYPE,
    "NoticeTypeRequest": obj(
        {
            "key": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$"},
            "name": line(200, 1),
            "purpose": line(64, 1),
            "template_id": ID,
        },
        ("key", "name", "purpose", "template_id"),
    ),
    "NoticeTypeUpdate": obj(
        {"name": line(200, 1), "purpose": line(64, 1), "template_id": ID},
        ("name", "purpose", "template_id"),
    ),
    "TemplateRequest": obj(
        {
            "name": line(200, 1),
            "kind": {"type": "string", "enum": [k.value for k in CampaignKind]},
            "purpose": line(64, 1),
            "subject": line(500, 1),
            "body_mjml": {"type": "string", "minLength": 1, "maxLength": 100_000, "pattern": TEXT},
            "text": nullable({"type": "string", "maxLength": 50_000, "pattern": TEXT}),
            # subject, body_mjml and text above are the Vietnamese variant; this adds others.
            "variants": obj({"en": ref("TemplateVariant")}),
        },
        ("name", "kind", "purpose", "subject", "body_mjml"),
    ),
    "TemplateVariant": obj(
        {
            "subject": line(500, 1),
            "body_mjml": {"type": "string", "minLength": 1, "maxLength": 100_000, "pattern": TEXT},
            "text": nullable({"type": "string", "maxLength": 50_000, "pattern": TEXT}),
        },
        ("subject", "body_mjml"),
    ),
    "Template": obj(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "kind": {"type": "string"},
            "purpose": {"type": "string"},
            "subject": {"type": "string"},
            "body_mjml": {"type": "string"},
            "text": nullable({"type": "string"}),
            "variants": obj({"en": ref("TemplateVariant")}),
            "version": {"type": "integer"},
            "created_at": DATE_TIME,
            "updated_at": DATE_TIME,
        },
        ("id", "name", "kind", "purpose", "subject", "body_mjml", "text", "version"),
    ),
    "CampaignRequest": obj(
        {
            "name": line(200, 1),
            "kind": {"type": "string", "enum": [k.value for k in CampaignKind]},
            "purpose": line(64, 1),
            "template_id": ID,
            "audience": obj(
                {
                    "tags": TAGS,
                    "locale": LOCALE,
                    "attributes": ATTRIBUTES,
                    "contact_ids": {"type": "array", "maxItems": 10_000, "items": ID},
                }
            ),
            "data": ATTRIBUTES,
            "time_zone": line(64, 1),
        },
        ("name", "kind", "purpose", "template_id"),
    ),
    "ScheduleRequest": obj(
        {
            "send_at": {
                **line(40, 1),
                "description": "RFC 3339 with an offset, or a local date-time read in time_zone.",
            },
            "time_zone": {**line(64, 1), "description": "IANA zone, e.g. Asia/Ho_Chi_Minh."},
        }
    ),
    "Campaign": obj(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "kind": {"type": "string"},
            "purpose": {"type": "string"},
            "template_id": {"type": "integer"},
            "template_version": nullable({"type": "integer"}),
            "status": {"type": "string", "enum": [s.value for s in CampaignStatus]},
            "status_reason": {"type": "string"},
            "send_at": nullable(DATE_TIME),
            "time_zone": {"type": "string"},
            "audience": {"type": "object"},
            "created_at": DATE_TIME,
            "planned_at": nullable(DATE_TIME),
            "finished_at": nullable(DATE_TIME),
            "counters": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "Deliveries by outcome: pending, sent, skipped, failed, ...",
            },
            "reasons": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "Skipped, deferred and failed deliveries by reason.",
            },
        },
        ("id", "name", "status", "status_reason", "counters", "reasons"),
    ),
}
