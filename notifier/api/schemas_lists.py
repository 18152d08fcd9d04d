"""The bodies and query strings of the API's lists and its layout-based operations: contacts,
suppressions, a campaign's report, templates, notice types made from a built-in layout.

Kept beside notifier/api/schemas.py (same rules, same value types) so each stays readable."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from notifier.api.campaign_data import CampaignData
from notifier.api.fields import (
    Email,
    Key,
    Locale,
    Purpose,
    Rule,
    ServicePurpose,
    Tag,
    WholeNumber,
    line,
    multiline,
    named,
    optional,
    pattern_check,
)
from notifier.api.schemas import (
    Answer,
    Body,
    Contact,
    MultiLine,
    NoticeType,
    Template,
    TemplateVariant,
    TemplateVariants,
)
from notifier.campaigns.reports import DELIVERY_STATUSES
from notifier.contacts.api_directory import CLIENT_REASONS, scope_choices
from notifier.delivery.rendering.layouts import LAYOUT_KEYS, builtin_layouts

MAX_PAGE = 200
DEFAULT_PAGE = 50
# What the server's cursors are made of (URL-safe base64 and dots, signed): anything else,
# and anything it did not sign itself, is refused with 422 naming `cursor`.
CURSOR = r"^[A-Za-z0-9_.-]{1,400}$"


class QueryInt(WholeNumber):
    """A whole number in the query string, written in decimal digits, within limits: what
    JSON Schema's integer means there. Pydantic's lax int would also take " 7" or "7_0"."""

    _DIGITS = re.compile(r"^-?[0-9]{1,12}$")

    def _validate(self, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return self._in_range(value)
        if isinstance(value, str) and self._DIGITS.match(value):
            return self._in_range(int(value))
        raise PydanticCustomError("notifier", "must be a whole number")


class Query(BaseModel):
    """A query string: unknown parameters are refused, each parameter given once."""

    model_config = ConfigDict(extra="forbid")


Cursor = Annotated[
    str,
    Rule(
        {
            "pattern": CURSOR,
            "maxLength": 400,
            "description": "next_cursor of the previous page, as it came; it works only with the "
            "same filters.",
        },
        pattern_check(CURSOR, "is not a cursor this server gave out"),
    ),
]
Limit = Annotated[int, QueryInt(1, MAX_PAGE)]


class Paged(Query):
    limit: Limit = Field(DEFAULT_PAGE, description=f"Items per page, 1 to {MAX_PAGE}.")
    cursor: Cursor = optional()


class Page(Answer):
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )


# --- contacts ---------------------------------------------------------------------------------


class ContactQuery(Paged):
    q: Annotated[
        str, line(100, 1, description="A part of the email address or name (case-insensitive).")
    ] = optional()
    tag: Tag = optional()
    locale: Locale = optional()


class ContactPage(Page):
    items: list[Contact]


class Erased(Answer):
    external_ref: str
    erased: Literal[True]
    privacy_request_id: int


# --- suppressions -----------------------------------------------------------------------------


SuppressionScope = Annotated[
    str,
    Rule(
        {"description": "all, advertising, or a purpose of the active policy profile."},
        choices=scope_choices,
        unknown=lambda v: f"unknown scope {v!r}: all, advertising or a purpose",
    ),
]


class SuppressionRequest(Body):
    email: Email
    scope: SuppressionScope
    reason: Literal[CLIENT_REASONS]  # type: ignore[valid-type]
    note: Annotated[str, line(500)] = optional()


class SuppressionQuery(Paged):
    pass


class Suppression(Answer):
    id: int
    scope: str
    reason: str
    source: str | None = Field(description="Who added it: api, bounce, erasure, staff, ...")
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None


class SuppressionPage(Page):
    items: list[Suppression]


# --- campaign reports -------------------------------------------------------------------------


class ReportQuery(Paged):
    status: Literal[DELIVERY_STATUSES] = optional()  # type: ignore[valid-type]


class DeliveryRow(Answer):
    id: int
    external_ref: str | None
    status: Literal[DELIVERY_STATUSES]  # type: ignore[valid-type]
    reason: str | None
    smtp_code: int | None
    smtp_message: str | None
    attempts: int
    sent_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None


class CampaignReport(Page):
    campaign_id: int
    counters: dict[str, int] = Field(description="Deliveries by status.")
    reasons: dict[str, int] = Field(description="Skipped, deferred and failed ones by reason.")
    items: list[DeliveryRow]


# --- templates and notice types from built-in layouts -----------------------------------------


def _service_layouts() -> list[str]:
    return [key for key, layout in builtin_layouts().items() if not layout.advertising]


LayoutKey = Annotated[
    str,
    Rule(
        {"description": "A built-in layout: " + ", ".join(LAYOUT_KEYS) + "."},
        choices=lambda: LAYOUT_KEYS,
        unknown=lambda v: f"unknown layout {v!r}: one of {', '.join(LAYOUT_KEYS)}",
    ),
]
ServiceLayoutKey = Annotated[
    str,
    Rule(
        {"description": "A built-in layout for service mail (not advertising)."},
        choices=_service_layouts,
        unknown=lambda v: f"{v!r} is not a built-in service layout",
    ),
]
SampleData = dict[str, dict[str, Any]]


class TemplateQuery(Paged):
    pass


class TemplatePage(Page):
    items: list[Template]


class LayoutTemplateRequest(Body):
    """An advertising layout (promotion, event) needs an advertising purpose, the renewal
    layout a service purpose: the server checks the pair (422 naming `purpose`)."""

    layout: LayoutKey
    name: Annotated[str, named(200)]
    purpose: Purpose


class LayoutTemplate(Answer):
    template: Template
    sample_data: SampleData = Field(
        description="The layout's sample data per locale: a campaign's `data` that renders it."
    )


class NoticeTypeFromLayout(Body):
    key: Key
    name: Annotated[str, named(200)]
    purpose: ServicePurpose
    layout: ServiceLayoutKey = Field(
        "renewal", description="A built-in layout for service mail (not advertising)."
    )


class NoticeTypeDetail(NoticeType):
    template_id: int
    subject: str
    body_mjml: str
    text: str | None
    variants: dict[str, TemplateVariant] = Field(default_factory=dict)
    data_fields: list[str] = Field(description="The `data` fields a notice of this type needs.")


class NoticeTemplateUpdate(Body):
    """The notice type's texts: `subject`, `body_mjml` and `text` are the Vietnamese variant,
    `variants.en` the English one. They are rendered with `sample_data` (per locale; the renewal
    layout's sample without it) before anything is stored."""

    subject: Annotated[str, line(500, 1)]
    body_mjml: MultiLine
    text: Annotated[str, multiline(50_000)] | None = None
    variants: TemplateVariants | None = None
    sample_data: Annotated[
        dict[Locale, Annotated[dict[str, Any], CampaignData()]], Field(max_length=2)
    ] = optional()


class NoticeTypeCreated(Answer):
    notice_type: NoticeTypeDetail
    sample_data: SampleData = Field(
        description="The layout's sample `data` per locale: a notice's `data` that renders it."
    )
