"""A campaign's opens and clicks over time and as CSV, the last N campaigns compared, and one
person's engagement (its own permission). Counts only, but for that last page: docs/tracking.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import render_template, request
from werkzeug.wrappers import Response

from notifier.campaigns import comparison, contact_engagement, engagement, engagement_series
from notifier.domain.charts import BarChart, bar_chart
from notifier.domain.errors import ValidationFailed
from notifier.i18n import current_locale, translate
from notifier.infra.clock import utcnow
from notifier.infra.context import profile
from notifier.web.admin.blueprint import bp
from notifier.web.admin.guard import requires, staff_access


def _csv(body: str, filename: str) -> Response:
    return Response(
        body, mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )  # fmt: skip


@bp.get("/campaigns/<int:campaign_id>/engagement.csv")
@requires("campaigns.view")
def campaign_engagement_csv(campaign_id: int) -> Response:
    body = engagement.engagement_csv(staff_access(), campaign_id)
    return _csv(body, f"campaign-{campaign_id}-engagement.csv")


@bp.get("/campaigns/<int:campaign_id>/engagement-over-time.csv")
@requires("campaigns.view")
def campaign_engagement_over_time_csv(campaign_id: int) -> Response:
    body = engagement_series.over_time_csv(staff_access(), campaign_id, utcnow())
    return _csv(body, f"campaign-{campaign_id}-engagement-over-time.csv")


@dataclass(frozen=True)
class Chart:
    """One chart of the campaign page and the rows of the table beside it."""

    key: str  # opens-hours, clicks-days, ...
    title: str
    chart: BarChart
    rows: list[tuple[str, engagement_series.Bucket]]


def _label(moment: datetime, hourly: bool, full: bool) -> str:
    vi = current_locale() == "vi"
    if hourly:  # an hour in the profile's zone (staff read times there)
        local = moment.astimezone(ZoneInfo(profile().default_time_zone))
        return local.strftime(("%d/%m/%Y %H:%M" if vi else "%Y-%m-%d %H:%M") if full else "%H:%M")
    if full:
        return moment.strftime("%d/%m/%Y" if vi else "%Y-%m-%d")
    return moment.strftime("%d/%m" if vi else "%m-%d")


def _titles() -> dict[tuple[str, str], str]:
    return {
        ("opens", "hours"): translate("chart_opens_hours"),
        ("opens", "days"): translate("chart_opens_days"),
        ("clicks", "hours"): translate("chart_clicks_hours"),
        ("clicks", "days"): translate("chart_clicks_days"),
    }


def campaign_charts(campaign_id: int) -> tuple[engagement_series.OverTime, list[Chart]]:
    """For the campaign page: up to four charts, each with its table (empty series left out)."""
    series = engagement_series.campaign_over_time(staff_access(), campaign_id, utcnow())
    charts = []
    for name, one in (("opens", series.opens), ("clicks", series.clicks)):
        for unit, buckets, hourly in (("hours", one.hours, True), ("days", one.days, False)):
            if not buckets or not any(b.total for b in buckets):
                continue
            chart = bar_chart(
                [_label(b.start, hourly, False) for b in buckets],
                [b.human for b in buckets],
                [b.machine for b in buckets],
            )
            rows = [(_label(b.start, hourly, True), b) for b in buckets]
            title = _titles()[(name, unit)]
            charts.append(Chart(f"{name}-{unit}", title, chart, rows))
    return series, charts


@bp.get("/campaigns/compare")
@requires("campaigns.view")
def campaigns_compare() -> tuple[str, int]:
    try:
        count = comparison.campaign_count(request.args.get("n"))
    except ValidationFailed:
        return render_template(
            "admin/campaigns/compare.html", rows=[], count=None, chart=None,
            problem=translate("comparison_count_invalid", most=comparison.MAX_COUNT),
        ), 400  # fmt: skip
    rows = comparison.last_campaigns(staff_access(), count)
    # Click-through rate in percent on a 0-100 axis, oldest on the left as time runs.
    shown = list(reversed(rows))
    chart = bar_chart(
        [f"#{r.id}" for r in shown], [round(100 * (r.click_rate or 0), 1) for r in shown], top=100
    ) if rows else None  # fmt: skip
    return render_template(
        "admin/campaigns/compare.html", rows=rows, count=count, chart=chart, problem=None,
        most=comparison.MAX_COUNT,
    ), 200  # fmt: skip


@bp.get("/campaigns/compare.csv")
@requires("campaigns.view")
def campaigns_compare_csv() -> Response:
    try:
        count = comparison.campaign_count(request.args.get("n"))
    except ValidationFailed:
        message = translate("comparison_count_invalid", most=comparison.MAX_COUNT)
        return Response(message + "\n", status=400, mimetype="text/plain")
    return _csv(comparison.comparison_csv(staff_access(), count), "campaigns-compared.csv")


@bp.get("/contacts/<int:contact_id>/engagement")
@requires(contact_engagement.PERMISSION)
def contact_engagement_page(contact_id: int) -> str:
    found = contact_engagement.contact_events(staff_access(), contact_id)
    return render_template("admin/contacts/engagement.html", contact_id=contact_id, found=found)
