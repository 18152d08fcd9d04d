"""Templates and campaigns for scripts: create, read, schedule, pause, resume, cancel."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, jsonify

from notifier.api.auth import CONTACTS_SCOPE, current_scopes
from notifier.api.base import bp
from notifier.api.fields import DATE_TIME, MAX_ID
from notifier.api.problems import ApiProblem, invalid
from notifier.api.schemas import (
    Campaign,
    CampaignRequest,
    ScheduleRequest,
    Template,
    TemplateRequest,
)
from notifier.api.spec import body, operation
from notifier.campaigns import ab_tests, templates
from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns.preflight import PreflightFailed
from notifier.campaigns.views import campaign_view, template_view
from notifier.domain.errors import ValidationFailed
from notifier.domain.locales import Variant

CAMPAIGN = f"/campaigns/<int(min=1, max={MAX_ID}):campaign_id>"
_WITH_OFFSET = re.compile(DATE_TIME)
DEFAULT_ZONE = "Asia/Ho_Chi_Minh"


@bp.post("/templates")
@operation(
    "templates",
    {201: (Template, "Saved.")},
    json=TemplateRequest,
    state_checked=("subject", "body_mjml", "text"),
)
def create_template() -> tuple[Response, int]:
    """Save a template: it is compiled and rendered for a sample contact first"""
    new = body(TemplateRequest)
    data = templates.TemplateInput(
        new.name,
        new.kind,
        new.purpose,
        new.subject,
        new.body_mjml,
        new.text,
        _variants(new),
    )
    return jsonify(template_view(templates.save_template(data))), 201


@bp.get(f"/templates/<int(min=1, max={MAX_ID}):template_id>")
@operation("templates", {200: (Template, "The template.")})
def get_template(template_id: int) -> Response:
    """A template"""
    return jsonify(template_view(templates.get_template(template_id)))


@bp.post("/campaigns")
@operation(
    "campaigns",
    {201: (Campaign, "Created as a draft.")},
    json=CampaignRequest,
    # audience: a segment that exists; ab_test: subjects that compile with the template
    state_checked=("template_id", "data", "audience", "ab_test"),
)
def create_campaign() -> tuple[Response, int]:
    """Create a draft campaign"""
    new = body(CampaignRequest)
    given = new.model_dump(mode="json", exclude_unset=True)
    data = campaigns.CampaignInput(
        name=new.name,
        kind=new.kind,
        purpose_key=new.purpose,
        template_id=new.template_id,
        audience=given.get("audience", {}),
        data=given.get("data", {}),
        time_zone=new.time_zone or DEFAULT_ZONE,
    )
    try:
        data = replace(data, ab_test=ab_tests.parse(given.get("ab_test")))
        return jsonify(campaign_view(campaigns.create_campaign(data))), 201
    except ValidationFailed as exc:
        raise _in_ab_test(exc) from None


def _in_ab_test(exc: ValidationFailed) -> ValidationFailed:
    """The body's field is `ab_test`: the admin form's field names (ab_subject_2_en ...) go
    into the detail, so a client is told which subject."""
    errors = {k: v for k, v in exc.errors.items() if not k.startswith("ab_")}
    named = [f"{k.removeprefix('ab_')}: {v}" for k, v in exc.errors.items() if k.startswith("ab_")]
    if named:
        errors["ab_test"] = "; ".join(named)
    return ValidationFailed(errors)


@bp.get(CAMPAIGN)
@operation("campaigns", {200: (Campaign, "The campaign.")})
def campaign_status(campaign_id: int) -> Response:
    """A campaign's status with counters by outcome and reason"""
    return jsonify(campaign_view(campaigns.get_campaign(campaign_id)))


@bp.post(f"{CAMPAIGN}/schedule")
@operation(
    "campaigns",
    {200: (Campaign, "The campaign, scheduled.")},
    json=ScheduleRequest,
    errors=(409,),
    # send_at: a local time in each recipient's zone is refused once it has passed in every
    # zone, which the clock decides, not the schema.
    state_checked=("audience", "data", "send_at"),
)
def schedule_campaign(campaign_id: int) -> Response:
    """Schedule now, or at send_at (with an offset, or local in time_zone)"""
    when = body(ScheduleRequest)
    try:
        if when.in_recipient_zone:
            campaign = campaigns.schedule(campaign_id, local_wall=_wall_clock(when))
        else:
            send_at = _send_at(when, campaign_id) if when.send_at is not None else None
            campaign = campaigns.schedule(campaign_id, send_at)
        return jsonify(campaign_view(campaign))
    except PreflightFailed as exc:
        raise _refused(exc) from None


def _refused(exc: PreflightFailed) -> ApiProblem:
    """422 naming each reason the template fails, with how many recipients and a few of them:
    by address for a key that may read contacts, else by contact id (a campaigns key is no
    way to read who is in an audience)."""
    if not exc.failures:
        return invalid(exc.errors)
    by_address = CONTACTS_SCOPE in current_scopes()
    errors = [
        {
            "field": "data",
            "detail": f.reason,
            "count": f.count,
            "examples": f.examples if by_address else [f"#{i}" for i in f.contact_ids],
        }
        for f in exc.failures
    ]
    return ApiProblem(422, str(exc), errors)


def _send_at(when: ScheduleRequest, campaign_id: int) -> datetime:
    """With an offset as given; a wall-clock time is read in time_zone (or the campaign's)."""
    text = str(when.send_at)
    if _WITH_OFFSET.match(text):
        return _parsed(text.upper())
    zone = when.time_zone or campaigns.get_campaign(campaign_id).time_zone
    local = _parsed(text.replace(" ", "T").replace("t", "T"))
    return local.replace(tzinfo=ZoneInfo(zone))


def _wall_clock(when: ScheduleRequest) -> datetime:
    """The wall-clock time each recipient's zone reads: no offset, and no zone to read it in."""
    text = str(when.send_at or "")
    if not text:
        raise invalid({"send_at": "is required to send in each recipient's zone"})
    if _WITH_OFFSET.match(text) or when.time_zone is not None:
        raise invalid({"send_at": "a local time is a wall-clock time, no offset or time_zone"})
    return _parsed(text.replace(" ", "T").replace("t", "T"))


def _parsed(text: str) -> datetime:
    # The field's pattern lets a trailing line break through ("$" matches before it), and a
    # date that does not exist (30 February) matches it too: both are the caller's error.
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise invalid({"send_at": "is not a date and time that exists"}) from None


@bp.post(f"{CAMPAIGN}/pause")
@operation("campaigns", {200: (Campaign, "The campaign, paused.")}, errors=(409,))
def pause_campaign(campaign_id: int) -> Response:
    """Pause sending"""
    return jsonify(campaign_view(campaigns.pause(campaign_id, "paused through the API")))


@bp.post(f"{CAMPAIGN}/resume")
@operation("campaigns", {200: (Campaign, "The campaign, resumed.")}, errors=(409,))
def resume_campaign(campaign_id: int) -> Response:
    """Resume sending"""
    return jsonify(campaign_view(campaigns.resume(campaign_id)))


@bp.post(f"{CAMPAIGN}/cancel")
@operation("campaigns", {200: (Campaign, "The campaign, cancelled.")}, errors=(409,))
def cancel_campaign(campaign_id: int) -> Response:
    """Cancel: unsent deliveries are skipped with a reason"""
    return jsonify(campaign_view(campaigns.cancel(campaign_id)))


def _variants(new: TemplateRequest) -> dict[str, Variant]:
    """The variants beside the Vietnamese one that the request carries."""
    given = new.variants
    if given is None or given.en is None:
        return {}
    return {"en": Variant(given.en.subject, given.en.body_mjml, given.en.text)}
