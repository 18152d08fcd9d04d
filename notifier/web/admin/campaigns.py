"""Campaigns: create with a live audience count, review, test, schedule, watch, report."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from notifier.campaigns import ab_tests, audience, engagement, reports, templates
from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import segments as saved_segments
from notifier.campaigns.catalogue import CampaignKind, CampaignStatus, templates_by_name
from notifier.campaigns.preflight import PreflightFailed
from notifier.campaigns.templates import sample_for
from notifier.delivery.composer import Recipient
from notifier.delivery.rendering.errors import TemplateError
from notifier.domain import ab_test
from notifier.domain.errors import DomainError, ValidationFailed
from notifier.i18n import current_locale, translate
from notifier.infra.context import profile
from notifier.operations.mailview import read_message
from notifier.web.admin.blueprint import bp
from notifier.web.admin.engagement import campaign_charts
from notifier.web.admin.forms import ActionForm, CampaignForm, ScheduleForm, TestSendForm, choices
from notifier.web.admin.guard import flash_errors, requires, staff_access
from notifier.web.admin.problems import problem_text

TIME_ZONES = (
    "Asia/Ho_Chi_Minh", "Asia/Bangkok", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul",
    "Australia/Sydney", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York",
    "America/Los_Angeles", "UTC",
)  # fmt: skip


STEPS = {
    "pause": (campaigns.pause, "campaign_paused"),
    "resume": (campaigns.resume, "campaign_resumed"),
    "cancel": (campaigns.cancel, "campaign_cancelled"),
}


@bp.get("/campaigns")
@requires("campaigns.view")
def campaigns_list() -> str:
    status = request.args.get("status", "")
    if status not in {s.value for s in CampaignStatus}:
        status = ""
    return render_template(
        "admin/campaigns/list.html", rows=reports.list_campaigns(status), status=status,
        statuses=[s.value for s in CampaignStatus],
    )  # fmt: skip


def _form() -> CampaignForm:
    form = CampaignForm()
    form.kind.choices = choices([(k.value, translate(f"kind_{k.value}")) for k in CampaignKind])
    form.purpose_key.choices = choices(
        [(p.key, p.name.get(current_locale())) for p in profile().purposes]
    )
    templates = templates_by_name()
    form.template_id.choices = choices([(str(t.id), f"{t.name} (v{t.version})") for t in templates])
    form.time_zone.choices = choices([(z, z) for z in TIME_ZONES])
    if not form.time_zone.data or form.time_zone.data == "None":
        form.time_zone.data = profile().default_time_zone
    return form


def _filters(values: Any) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    tags = [t.strip().lower() for t in str(values.get("tags") or "").split(",") if t.strip()]
    if tags:
        filters["tags"] = tags[:20]
    if values.get("locale") in ("vi", "en"):
        filters["locale"] = values["locale"]
    if values.get("kind") == "renewal":  # each customer's own services expiring within N days
        days = str(values.get("expiring_within_days") or "").strip()
        if days.isdigit() and 1 <= int(days) <= 366:
            filters["expiring_within_days"] = int(days)
    segment = str(values.get("segment") or "")
    if segment:
        # Anything but a segment's number is refused by the use case, not quietly dropped.
        filters["segment"] = int(segment) if segment.isascii() and segment.isdigit() else segment
    return filters


def _ab_test(values: Any) -> dict[str, Any] | None:
    """The form's optional A/B subject test as the use case reads it; None when unticked. Rows
    left wholly empty are dropped (the form offers four), half-filled ones are refused."""
    if not values.get("ab_enabled"):
        return None
    variants = []
    for number in range(1, ab_test.MAX_VARIANTS + 2):  # one more than allowed: refused
        vi, en = values.get(f"ab_subject_{number}_vi"), values.get(f"ab_subject_{number}_en")
        if (vi or "").strip() or (en or "").strip():
            variants.append({"vi": vi or "", "en": en or ""})
    return {
        "variants": variants,
        "sample_percent": values.get("ab_sample_percent"),
        "wait_hours": values.get("ab_wait_hours"),
        "metric": values.get("ab_metric"),
    }


def _data(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError as exc:
        raise ValidationFailed({"data": f"not valid JSON ({exc.args[0]})"}) from None
    if not isinstance(data, dict):
        raise ValidationFailed({"data": "must be a JSON object"})
    return data


@bp.route("/campaigns/new", methods=["GET", "POST"])
@requires("campaigns.manage")
def campaign_new() -> str | Response:
    form = _form()
    if request.method == "GET":
        form.data.data = _sample_json(form.kind.data or "promotion")
    if form.validate_on_submit():
        try:
            campaign = campaigns.create_campaign(
                campaigns.CampaignInput(
                    name=form.name.data or "", kind=form.kind.data or "",
                    purpose_key=form.purpose_key.data or "",
                    template_id=int(form.template_id.data or 0),
                    audience=_filters(request.form), data=_data(form.data.data or ""),
                    time_zone=form.time_zone.data or profile().default_time_zone,
                    ab_test=ab_tests.parse(_ab_test(request.form)),
                ),
                staff_id=current_user.id,
            )  # fmt: skip
        except ValidationFailed as exc:
            flash_errors(exc)
        except DomainError as exc:
            flash(problem_text(str(exc)), "error")
        else:
            flash(translate("campaign_created"), "success")
            return redirect(url_for("admin.campaign", campaign_id=campaign.id))
    elif request.method == "POST":
        flash(translate("form_invalid"), "error")
    status = 422 if request.method == "POST" else 200
    return render_template(
        "admin/campaigns/new.html",
        form=form,
        count=_count(request.form or None),
        segments=saved_segments.segment_choices(),
        segment=request.form.get("segment", ""),
    ), status  # type: ignore[return-value]


def _sample_json(kind: str) -> str:
    # One variant per locale: each contact reads the campaign in their own language.
    return json.dumps(sample_for(kind), ensure_ascii=False, indent=2)


@bp.get("/campaigns/sample-data")
@requires("campaigns.manage")
def campaign_sample_data() -> Markup:
    kind = request.args.get("kind", "")
    return escape(_sample_json(kind if kind in {k.value for k in CampaignKind} else "promotion"))


@bp.post("/campaigns/audience")
@requires("campaigns.manage")
def campaign_audience() -> str:
    return render_template("admin/campaigns/_audience.html", count=_count(request.form))


def _count(values: Any) -> audience.Breakdown | None:
    purposes = {p.key for p in profile().purposes}
    key = (values or {}).get("purpose_key") or profile().purposes[0].key
    if key not in purposes:
        return None
    return audience.breakdown(key, _filters(values or {}))


@bp.get("/campaigns/<int:campaign_id>")
@requires("campaigns.view")
def campaign(campaign_id: int) -> str:
    report = reports.campaign_report(campaign_id)
    context: dict[str, Any] = {"report": report, "c": report.campaign, "action": ActionForm()}
    context["engagement"] = engagement.campaign_engagement(staff_access(), campaign_id)
    if context["engagement"] and context["engagement"].tracked:
        context["over_time"], context["charts"] = campaign_charts(campaign_id)
    context["ab_test"] = ab_tests.report(report.campaign)
    if report.campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        context.update(
            count=audience.breakdown(report.campaign.purpose_key, report.campaign.audience or {}),
            preview=_campaign_preview(report.campaign),
            test=TestSendForm(to=current_user.email), schedule=ScheduleForm(),
            profile_zone=profile().default_time_zone,
        )  # fmt: skip
    return render_template("admin/campaigns/show.html", **context)


def _campaign_preview(c: Any) -> dict[str, Any]:
    template = templates.get_template(c.template_id)
    recipient = Recipient(0, "khach.hang@example.com", "Nguyễn Văn An", "vi", {})
    try:
        raw = campaigns.preview(template.sources(), c.purpose_key, dict(c.data or {}), recipient)
    except TemplateError as exc:
        return {"error": exc}
    return {"mail": read_message(raw)}


@bp.get("/campaigns/<int:campaign_id>/progress")
@requires("campaigns.view")
def campaign_progress(campaign_id: int) -> str | Response:
    report = reports.campaign_report(campaign_id)
    if not report.live and request.headers.get("HX-Request"):
        # It just finished: reload the whole page so the title and buttons match too.
        return Response(status=204, headers={"HX-Refresh": "true"})
    return render_template("admin/campaigns/_progress.html", report=report)


@bp.post("/campaigns/<int:campaign_id>/test")
@requires("campaigns.manage")
def campaign_test(campaign_id: int) -> Response:
    form = TestSendForm()
    if form.validate_on_submit():
        # One copy in each language the audience reads the campaign in (and the staff's own),
        # and with an A/B subject test, one per subject.
        copies = [
            (locale, variant)
            for variant in campaigns.subject_variants_to_test(campaign_id)
            for locale in campaigns.locales_to_test(campaign_id, current_user.locale)
        ]
        for locale, variant in copies:
            if not _test_copy(campaign_id, form.to.data or "", locale, variant):
                break
    else:
        flash(translate("form_invalid"), "error")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id))


def _test_copy(campaign_id: int, to: str, locale: str, variant: int | None) -> bool:
    try:
        result = campaigns.send_test(campaign_id, to, current_user.name, locale, variant)
    except ValidationFailed as exc:
        flash_errors(exc)
        return False
    except (DomainError, TemplateError) as exc:
        flash(problem_text(str(exc)), "error")
        return False
    if result.status.value != "sent":
        flash(translate("test_failed", detail=result.message), "error")
        return False
    subject = "" if variant is None else f", {translate('ab_variant')} {ab_test.letter(variant)}"
    flash(translate("test_sent", to=f"{to} ({translate('locale_' + locale)}{subject})"), "success")
    return True


@bp.post("/campaigns/<int:campaign_id>/schedule")
@requires("campaigns.manage")
def campaign_schedule(campaign_id: int) -> Response:
    form = ScheduleForm()
    if not form.validate_on_submit():
        flash(translate("confirm_required"), "error")
        return redirect(url_for("admin.campaign", campaign_id=campaign_id))
    local = form.send_at.data if form.when.data == "later" else None
    if form.when.data == "later" and local is None:
        flash(translate("send_at_required"), "error")
        return redirect(url_for("admin.campaign", campaign_id=campaign_id))
    try:
        audience.schedule_local(campaign_id, local, bool(form.recipient_zone.data))
    except PreflightFailed as exc:
        _flash_preflight(exc)
    except ValidationFailed as exc:
        flash_errors(exc)
    except DomainError as exc:
        flash(problem_text(str(exc)), "error")
    else:
        flash(translate("campaign_scheduled"), "success")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id))


def _flash_preflight(exc: PreflightFailed) -> None:
    if not exc.failures:
        flash(translate("campaign_audience_empty"), "error")
    for failure in exc.failures:
        examples = ", ".join(failure.examples)
        flash(
            translate("campaign_render_failed", count=failure.count, total=exc.total,
                      reason=failure.reason, examples=examples),
            "error",
        )  # fmt: skip


@bp.post("/campaigns/<int:campaign_id>/<any(pause, resume, cancel):step>")
@requires("campaigns.manage")
def campaign_control(campaign_id: int, step: str) -> Response:
    if ActionForm().validate_on_submit():
        try:
            STEPS[step][0](campaign_id)
        except DomainError as exc:
            flash(problem_text(str(exc)), "error")
        else:
            flash(translate(STEPS[step][1]), "success")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id))


@bp.get("/campaigns/<int:campaign_id>/report.csv")
@requires("campaigns.view")
def campaign_report_csv(campaign_id: int) -> Response:
    # Streamed: the audit row commits with this view, the rows follow as they are read.
    body = reports.report_csv(staff_access(), campaign_id)
    return Response(
        body, mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=campaign-{campaign_id}.csv"},
    )  # fmt: skip
