"""Templates and campaigns for scripts: create, read, schedule, pause, resume, cancel."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Response, jsonify

from notifier.api.auth import require
from notifier.api.base import bp
from notifier.api.problems import ApiProblem, invalid
from notifier.api.representations import campaign_json, template_json
from notifier.api.schemas import MAX_ID
from notifier.api.validation import parse_date_time, read_json
from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import templates
from notifier.campaigns.preflight import PreflightFailed
from notifier.domain.locales import Variant

CAMPAIGN = f"/campaigns/<int(min=1, max={MAX_ID}):campaign_id>"
LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2})?$")


@bp.post("/templates")
@require("templates")
def create_template() -> tuple[Response, int]:
    body = read_json("TemplateRequest")
    data = templates.TemplateInput(
        body["name"],
        body["kind"],
        body["purpose"],
        body["subject"],
        body["body_mjml"],
        body.get("text"),
        {
            locale: Variant(v["subject"], v["body_mjml"], v.get("text"))
            for locale, v in body.get("variants", {}).items()
        },
    )
    return jsonify(template_json(templates.save_template(data))), 201


@bp.get(f"/templates/<int(min=1, max={MAX_ID}):template_id>")
@require("templates")
def get_template(template_id: int) -> Response:
    return jsonify(template_json(templates.get_template(template_id)))


@bp.post("/campaigns")
@require("campaigns")
def create_campaign() -> tuple[Response, int]:
    body = read_json("CampaignRequest")
    data = campaigns.CampaignInput(
        name=body["name"],
        kind=body["kind"],
        purpose_key=body["purpose"],
        template_id=body["template_id"],
        audience=body.get("audience", {}),
        data=body.get("data", {}),
        time_zone=body.get("time_zone", "Asia/Ho_Chi_Minh"),
    )
    return jsonify(campaign_json(campaigns.create_campaign(data))), 201


@bp.get(CAMPAIGN)
@require("campaigns")
def campaign_status(campaign_id: int) -> Response:
    return jsonify(campaign_json(campaigns.get_campaign(campaign_id)))


@bp.post(f"{CAMPAIGN}/schedule")
@require("campaigns")
def schedule_campaign(campaign_id: int) -> Response:
    body = read_json("ScheduleRequest", optional=True)
    send_at = _send_at(body, campaign_id) if "send_at" in body else None
    try:
        return jsonify(campaign_json(campaigns.schedule(campaign_id, send_at)))
    except PreflightFailed as exc:
        raise _refused(exc) from None


def _refused(exc: PreflightFailed) -> ApiProblem:
    """422 naming each reason the template fails, with how many recipients and a few of them."""
    if not exc.failures:
        return invalid(exc.errors)
    errors = [
        {"field": "data", "detail": f.reason, "count": f.count, "examples": f.examples}
        for f in exc.failures
    ]
    return ApiProblem(422, str(exc), errors)


def _send_at(body: dict[str, Any], campaign_id: int) -> datetime:
    """With an offset as given; a local date-time is read in time_zone (or the campaign's)."""
    text = body["send_at"]
    if not LOCAL_TIME.match(text):
        try:
            return parse_date_time(text)
        except ValueError as exc:
            raise invalid({"send_at": str(exc)}) from None
    zone_name = body.get("time_zone") or campaigns.get_campaign(campaign_id).time_zone
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid({"time_zone": f"unknown time zone {zone_name!r}"}) from None
    try:
        return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=zone)
    except ValueError as exc:
        raise invalid({"send_at": str(exc)}) from None


@bp.post(f"{CAMPAIGN}/pause")
@require("campaigns")
def pause_campaign(campaign_id: int) -> Response:
    return jsonify(campaign_json(campaigns.pause(campaign_id, "paused through the API")))


@bp.post(f"{CAMPAIGN}/resume")
@require("campaigns")
def resume_campaign(campaign_id: int) -> Response:
    return jsonify(campaign_json(campaigns.resume(campaign_id)))


@bp.post(f"{CAMPAIGN}/cancel")
@require("campaigns")
def cancel_campaign(campaign_id: int) -> Response:
    return jsonify(campaign_json(campaigns.cancel(campaign_id)))
