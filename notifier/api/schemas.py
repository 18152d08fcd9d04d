"""Every API body as a pydantic model: the server validates requests with these and the OpenAPI
document is generated from them (notifier/api/spec.py), so the two cannot drift apart."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import has_app_context
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from notifier.api.campaign_data import CampaignData
from notifier.api.fields import (
    AMOUNT,
    LOCAL_DATE_TIME,
    Amount,
    DateText,
    DateTimeText,
    Email,
    ExternalRef,
    Id,
    IpAddress,
    Key,
    KeyedValues,
    Locale,
    LocalOrOffsetTime,
    Phone,
    Purpose,
    RenewalUrl,
    Rule,
    ServicePurpose,
    SubscriptionId,
    Tag,
    TimeZone,
    WholeNumber,
    line,
    matching,
    multiline,
    named,
    optional,
    pattern_check,
    service_purposes,
)
from notifier.api.notice_data import DATA, NoticeData, data_schemas
from notifier.campaigns.views import AUDIENCE_FILTERS, CAMPAIGN_KINDS, CAMPAIGN_STATUSES
from notifier.domain import ab_test
from notifier.domain import reminders as reminder_rules
from notifier.domain import subscriptions as subscription_rules
from notifier.domain.webhooks import EVENT_TYPES
from notifier.notices.views import NOTICE_STATUSES, active_type_keys

GRANT_CHANNELS = ("web_form", "signup", "preference_center", "hotline", "staff", "import")
IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,150}$"


class Body(BaseModel):
    """Strict: a string is never read as a number, and a field the model lacks is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


Kind = Literal["promotion", "event", "renewal"]
assert CAMPAIGN_KINDS == ("promotion", "event", "renewal")  # Kind follows CampaignKind
Scalar = Annotated[Any, DATA]
Attributes = Annotated[
    dict[Annotated[str, Field(max_length=64, pattern=r"^[\w.-]+$")], Scalar],
    Field(max_length=50),
    KeyedValues(),
]
Tags = Annotated[list[Tag], Field(max_length=50)]
MultiLine = Annotated[str, multiline(100_000, 1)]


# --- contacts ---------------------------------------------------------------------------------


class Evidence(Body):
    source: Literal[GRANT_CHANNELS] = Field(description="The channel where the person agreed.")  # type: ignore[valid-type]
    notice_version: Annotated[str, line(64, 1)]
    collected_at: DateTimeText
    ip: IpAddress = optional()
    user_agent: Annotated[str, line(500)] = optional()
    staff_ref: Annotated[
        str, line(100, 1, description="Who recorded it, e.g. a call-centre agent id.")
    ] = optional()
    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["ip"]}, {"required": ["staff_ref"]}]}
    )

    @model_validator(mode="after")
    def _someone_vouches(self) -> Evidence:
        if self.ip is None and self.staff_ref is None:
            raise PydanticCustomError("notifier", "needs the person's ip or a staff_ref")
        return self


class ConsentChange(Body):
    """A grant needs evidence; a withdrawal needs none."""

    purpose: Purpose
    action: Literal["grant", "withdraw"]
    evidence: Evidence | None = Field(default=None, validate_default=True)
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"action": {"const": "grant"}}, "required": ["action"]},
            "then": {"required": ["evidence"]},
        }
    )

    @field_validator("evidence", mode="after")
    @classmethod
    def _grant_has_evidence(cls, value: Evidence | None, info: ValidationInfo) -> Evidence | None:
        if value is None and info.data.get("action") == "grant":
            raise PydanticCustomError("notifier", "is required to grant consent")
        return value


class ContactFields(Body):
    name: Annotated[str, line(200)] = optional()
    phone: Phone = optional()
    address: Annotated[str, line(500)] = optional()
    organisation: Annotated[str, line(200)] = optional()
    contact_person: Annotated[str, line(200)] = optional()
    locale: Locale = optional()
    time_zone: TimeZone = optional()
    contract_ends_on: DateText | None = optional(description="YYYY-MM-DD; null clears it.")
    tags: Tags = optional()
    attributes: Attributes = optional()
    consents: Annotated[list[ConsentChange], Field(max_length=20)] = optional()


class ContactCreate(ContactFields):
    external_ref: ExternalRef
    email: Email


class ContactPatch(ContactFields):
    email: Email = optional()


class Contact(Answer):
    external_ref: str
    email: str | None
    name: str
    phone: str | None = None
    address: str | None = None
    organisation: str | None = None
    contact_person: str | None = None
    locale: str
    time_zone: str | None = None
    contract_ends_on: Annotated[str, Field(json_schema_extra={"format": "date"})] | None
    tags: list[str]
    attributes: dict[str, Any]
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    updated_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None


class PurposeState(Answer):
    purpose: str
    kind: Literal["advertising", "service"]
    status: Literal["none", "pending", "granted", "withdrawn"]


class ConsentEvent(Answer):
    id: int
    purpose: str
    action: Literal["request", "grant", "withdraw"]
    source: str
    occurred_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    recorded_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    notice_version: str | None = None
    locale: str | None = None


class ConsentOverview(Answer):
    external_ref: str
    purposes: list[PurposeState]
    history: list[ConsentEvent]


# --- notices ----------------------------------------------------------------------------------


NoticeTypeKey = Annotated[
    str,
    Rule(
        {"description": "A notice type key, see GET /notice-types."},
        choices=active_type_keys,
        unknown=lambda v: f"unknown notice type {v!r}; see GET /api/v1/notice-types",
    ),
]


class NoticeContact(Body):
    external_ref: ExternalRef
    email: Email
    name: Annotated[str, line(200)] = optional()
    locale: Locale = optional()


class NoticeRequest(Body):
    """The `data` a type needs is read from its template: the document has one variant per type."""

    type: NoticeTypeKey
    contact: NoticeContact
    data: NoticeData
    send_at: DateTimeText = optional()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        base = handler.resolve_ref_schema(handler(core_schema))
        if not has_app_context():
            return base
        variants = []
        for key, data in data_schemas().items():
            properties = {**base["properties"], "type": {"const": key}, "data": data}
            variants.append({**base, "properties": properties})
        return {"title": base.get("title", cls.__name__), "oneOf": variants} if variants else base


class IdempotencyHeaders(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=False)
    idempotency_key: Annotated[
        str,
        Rule(
            {
                "minLength": 1,
                "maxLength": 150,
                "pattern": IDEMPOTENCY_KEY,
                "description": "Your unique id for this request: a retry with the same key and "
                "body gets the same answer and never a second email; the same key with another "
                "body gets 409.",
            },
            pattern_check(IDEMPOTENCY_KEY, "header required: 1 to 150 visible ASCII characters"),
        ),
    ] = Field(alias="Idempotency-Key")


class NoticeAccepted(Answer):
    id: int
    type: str
    status_url: str
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None


NoticeStatus = Literal[NOTICE_STATUSES]  # type: ignore[valid-type]


class Notice(Answer):
    id: int
    type: str
    status: NoticeStatus
    reason: str | None
    external_ref: str | None = None
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None
    send_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    sent_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None
    message_id: str | None
    smtp_code: int | None
    smtp_message: str | None = None
    attempts: int | None = None


class NoticeType(Answer):
    key: str
    name: str
    purpose: str


class NoticeTypeList(Answer):
    items: list[NoticeType]


class NoticeTypeRequest(Body):
    key: Key
    name: Annotated[str, named(200)]
    purpose: ServicePurpose
    template_id: Id


class NoticeTypeUpdate(Body):
    name: Annotated[str, named(200)]
    purpose: ServicePurpose
    template_id: Id


Step = Annotated[int, WholeNumber(reminder_rules.MIN_STEP, reminder_rules.MAX_STEP)]
Hour = Annotated[int, WholeNumber(0, 23)]


class ReminderScheduleRequest(Body):
    """Days relative to each subscription's expiry date (-30: thirty days before, 3: three days
    after), each once; the local hour in the contact's time zone (moved out of the quiet hours,
    21:00 to 08:00, to their end); paused: no new reminders while true."""

    steps: Annotated[
        list[Step],
        Field(
            min_length=1,
            max_length=reminder_rules.MAX_STEPS,
            json_schema_extra={"uniqueItems": True},
        ),
    ]
    local_hour: Hour = reminder_rules.DEFAULT_HOUR
    paused: bool = False


class ReminderSchedule(Answer):
    type: str
    steps: list[int]
    local_hour: int
    paused: bool


# --- templates and campaigns ------------------------------------------------------------------


class TemplateVariant(Body):
    subject: Annotated[str, line(500, 1)]
    body_mjml: MultiLine
    text: Annotated[str, multiline(50_000)] | None = None


class TemplateVariants(Body):
    """Variants beside the Vietnamese one (subject, body_mjml and text of the template)."""

    en: TemplateVariant | None = None


class TemplateRequest(Body):
    name: Annotated[str, named(200)]
    kind: Kind
    purpose: Purpose
    subject: Annotated[str, line(500, 1)]
    body_mjml: MultiLine
    text: Annotated[str, multiline(50_000)] | None = None
    variants: TemplateVariants | None = None


class Template(Answer):
    id: int
    name: str
    kind: str
    purpose: str
    subject: str
    body_mjml: str
    text: str | None
    variants: dict[str, TemplateVariant] = {}
    version: int
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    updated_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None


class Audience(Body):
    tags: Tags = optional()
    locale: Locale = optional()
    attributes: Attributes = optional()
    contact_ids: Annotated[list[Id], Field(max_length=10_000)] = optional()
    expiring_within_days: Annotated[int, WholeNumber(1, 366)] = optional(
        description="Only contacts with an active subscription expiring from today to this "
        "many days later; a renewal campaign then gives each recipient that subscription's "
        "data (see docs/templates.md), and skips one whose subscription was renewed meanwhile."
    )
    segment: Id = optional()  # a saved segment (docs/segments.md): it narrows, never widens


assert set(Audience.model_fields) == set(AUDIENCE_FILTERS)  # the filters the planner reads


# A subject of an A/B test: visible text, none of the characters domain/ab_test.py refuses.
AB_SUBJECT = f"^[^{ab_test.FORBIDDEN}]*[^\\s{ab_test.FORBIDDEN}][^{ab_test.FORBIDDEN}]*$"


class AbSubject(Body):
    vi: Annotated[str, matching(AB_SUBJECT, 200)]
    en: Annotated[str, matching(AB_SUBJECT, 200)]


class AbTestRequest(Body):
    """An A/B subject test (docs/ab-tests.md): the subjects are also checked against the
    template (each must compile with it) and must differ."""

    variants: Annotated[list[AbSubject], Field(min_length=2, max_length=4)] = Field(
        description="2 to 4 subjects, variant A first, each in Vietnamese and English."
    )
    sample_percent: Annotated[int, WholeNumber(10, 50)] = Field(
        description="The share of the planned audience that gets a variant first."
    )
    wait_hours: Annotated[int, WholeNumber(1, 72)] = Field(
        description="Hours from the sample's release to the pick of the winner."
    )
    metric: Literal["clicks", "opens"] = Field(
        description="People (not machines) who clicked, or who opened, per tracked message."
    )


class CampaignRequest(Body):
    """A renewal campaign is service mail: its purpose must be a service purpose."""

    name: Annotated[str, named(200)]
    kind: Kind
    purpose: Purpose
    template_id: Id
    audience: Audience = optional()
    data: Annotated[dict[str, Any], CampaignData()] = optional()
    time_zone: TimeZone = optional()
    ab_test: AbTestRequest = optional()

    @field_validator("purpose", mode="after")
    @classmethod
    def _renewal_is_service(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("kind") == "renewal" and value not in service_purposes():
            raise PydanticCustomError("notifier", "a renewal campaign must use a service purpose")
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        if has_app_context():
            schema["if"] = {"properties": {"kind": {"const": "renewal"}}, "required": ["kind"]}
            schema["then"] = {"properties": {"purpose": {"enum": sorted(service_purposes())}}}
        return schema


class ScheduleRequest(Body):
    """in_recipient_zone: send_at, a wall-clock time without an offset, is read in each
    recipient's own time zone (the profile's default for contacts without one): "09:00 local"
    for everyone over one day, the earliest zone first."""

    send_at: LocalOrOffsetTime = optional()
    time_zone: TimeZone = optional()
    in_recipient_zone: bool = False

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        # Each recipient's zone reads a wall-clock time: one is required, with no offset and
        # no time_zone to read it in.
        schema["if"] = {
            "properties": {"in_recipient_zone": {"const": True}},
            "required": ["in_recipient_zone"],
        }
        schema["then"] = {
            "required": ["send_at"],
            "properties": {"send_at": {"pattern": LOCAL_DATE_TIME}},
            "not": {"required": ["time_zone"]},
        }
        return schema


class Campaign(Answer):
    id: int
    name: str
    kind: str | None = None
    purpose: str | None = None
    template_id: int | None = None
    template_version: int | None = None
    status: Literal[CAMPAIGN_STATUSES]  # type: ignore[valid-type]
    status_reason: str
    send_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    time_zone: str | None = None
    local_send_at: str | None = Field(
        None,
        description="Sent at this wall-clock time (YYYY-MM-DDTHH:MM) in each recipient's own "
        "time zone; send_at is then its earliest moment anywhere. Null: one moment for all.",
    )
    audience: dict[str, Any] | None = None
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    planned_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    finished_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    counters: dict[str, int] = Field(
        description="Deliveries by outcome: pending, sent, skipped, failed, ..."
    )
    reasons: dict[str, int] = Field(
        description="Skipped, deferred and failed deliveries by reason."
    )
    ab_test: dict[str, Any] | None = Field(
        None,
        description="The A/B subject test (docs/ab-tests.md): its settings, and once picked "
        "`winner` (1 = A), `reason` and the counts per variant it was picked on; null: none.",
    )
    rsvps: int | None = Field(
        None,
        description="An event campaign's registrations through its RSVP link that stand "
        "(cancelled ones and erased people not counted); null for other kinds.",
    )


# --- errors -----------------------------------------------------------------------------------


class FieldError(Answer):
    field: str
    detail: str
    line: int | None = None
    count: Annotated[int, Field(ge=0)] | None = None
    examples: list[str] | None = None


class Problem(Answer):
    """RFC 9457 problem details; `errors` names every bad field."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None


# --- subscriptions ----------------------------------------------------------------------------


SubscriptionKind = Literal[subscription_rules.KINDS]  # type: ignore[valid-type]
SubscriptionStatus = Literal["active", "renewed", "cancelled", "expired"]
assert set(SubscriptionStatus.__args__) == set(subscription_rules.SubscriptionStatus)  # type: ignore[attr-defined]
Currency = Literal[tuple(sorted(subscription_rules.CURRENCIES))]  # type: ignore[valid-type]
AttributeText = Annotated[str, line(subscription_rules.MAX_ATTRIBUTE_TEXT)]
AttributeValue = AttributeText | int | float | bool | None
SubscriptionAttributes = Annotated[
    dict[Annotated[str, Field(pattern=subscription_rules.ATTRIBUTE_KEY)], AttributeValue],
    Field(max_length=subscription_rules.MAX_ATTRIBUTES),
    KeyedValues(),
]


class ByExternalRef(Body):
    external_ref: ExternalRef


class ByEmail(Body):
    email: Email


class SubscriptionFields(Body):
    """One subscription as PUT replaces it: a field left out is cleared (plan, dates, money)."""

    contact: ByExternalRef | ByEmail = Field(
        description="The contact who holds it, by external_ref or by email (one of them); "
        "the contact must exist."
    )
    kind: SubscriptionKind
    name: Annotated[str, named(subscription_rules.MAX_NAME)] = Field(
        description="What the customer calls it, e.g. the domain name."
    )
    plan: Annotated[str, line(subscription_rules.MAX_PLAN)] = optional()
    expires_on: DateText = optional()
    amount: Amount = optional()
    currency: Currency = optional(description="ISO 4217.")  # type: ignore[valid-type]
    renewal_url: RenewalUrl = optional()
    status: SubscriptionStatus = optional(
        description="active (default), renewed, cancelled or expired; cancelled is final."
    )
    attributes: SubscriptionAttributes = optional(
        description="Free fields for templates (subscription.attributes.<name>)."
    )


class SubscriptionRow(SubscriptionFields):
    """One line of POST /subscriptions/bulk."""

    external_id: SubscriptionId


class Subscription(Answer):
    external_id: str
    contact_external_ref: str | None
    kind: SubscriptionKind
    name: str
    plan: str
    expires_on: Annotated[str, Field(json_schema_extra={"format": "date"})] | None
    amount: Annotated[str, Field(pattern=AMOUNT)] | None
    currency: str | None
    renewal_url: str | None
    status: SubscriptionStatus
    attributes: dict[str, Any]
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    updated_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class SubscriptionList(Answer):
    items: list[Subscription]


class BulkResult(Answer):
    rows: int
    created: int
    updated: int
    errors: list[FieldError]


# --- webhooks ---------------------------------------------------------------------------------

WebhookEventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
EndpointUrl = Annotated[
    str, line(2000, 1, description="https:// (plain http only to a network the operator allowed)")
]
EventList = Annotated[list[WebhookEventType], Field(min_length=1, max_length=len(EVENT_TYPES))]
Stamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class WebhookEndpointRequest(Body):
    url: EndpointUrl
    events: EventList
    description: Annotated[str, line(200)] = optional()


class WebhookEndpointUpdate(Body):
    url: EndpointUrl = optional()
    events: EventList = optional()
    description: Annotated[str, line(200)] = optional()
    enabled: bool = optional()


class WebhookEndpoint(Answer):
    id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_note: str = Field(description="Why notifier disabled it, if it did.")
    failing_since: Stamp | None = None
    created_at: Stamp
    secret_rotated_at: Stamp | None = None


class WebhookEndpointCreated(WebhookEndpoint):
    secret: str = Field(description="Signs every delivery; shown this once.")


class WebhookEndpointList(Answer):
    items: list[WebhookEndpoint]


class WebhookSecret(Answer):
    secret: str = Field(description="The new signing secret; shown this once.")


class WebhookDelivery(Answer):
    id: int
    endpoint_id: int
    event_id: str = Field(description="The event's UUID, the same on every attempt.")
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None = None
    last_response: str = Field(description="The first 500 characters of the last answer.")
    last_error: str
    last_attempt_at: Stamp | None = None
    next_attempt_at: Stamp | None = None
    delivered_at: Stamp | None = None
    created_at: Stamp


class WebhookDeliveryList(Answer):
    items: list[WebhookDelivery]
