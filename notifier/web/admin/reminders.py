"""A notice type's reminder schedule: the form (steps, hour, pause), the reminders of the next
30 days per day, and a preview of one reminder for a chosen subscription."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from notifier.campaigns import lifecycle as campaigns
from notifier.delivery.composer import Recipient
from notifier.delivery.rendering.budget import cpu_budget
from notifier.delivery.rendering.errors import TemplateError
from notifier.domain import reminders as rules
from notifier.domain.errors import DomainError, NotFound, ValidationFailed
from notifier.i18n import translate
from notifier.infra.clock import utcnow
from notifier.infra.context import profile
from notifier.notices import reminders
from notifier.operations.mailview import read_message
from notifier.web.admin.blueprint import bp
from notifier.web.admin.emails import SAMPLE_PEOPLE
from notifier.web.admin.forms import ActionForm
from notifier.web.admin.guard import field_label, requires
from notifier.web.admin.problems import problem_text

DAYS = 30


def _page(key: str, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
          status: int = 200) -> tuple[str, int]:  # fmt: skip
    notice_type = reminders.active_type(key)  # 404 for an unknown or inactive type
    today = utcnow().astimezone(rules.zone_of(profile().default_time_zone)).date()
    outlook = reminders.upcoming(key, today, DAYS)
    schedule = outlook.schedule or rules.Schedule(rules.DEFAULT_STEPS, rules.DEFAULT_HOUR)
    shown = values or {
        "steps": ", ".join(f"{s:+d}" for s in schedule.steps),
        "local_hour": schedule.local_hour,
        "paused": schedule.paused,
    }
    problems = {field: problem_text(text) for field, text in (errors or {}).items()}
    summary = [(f"r-{field}", f"{field_label(field)}: {text}") for field, text in problems.items()]
    page = render_template(
        "admin/reminders.html", notice_type=notice_type, defined=outlook.schedule is not None,
        values=shown, problems=problems, error_summary=summary, outlook=outlook,
        preview=_preview(key, schedule), form=ActionForm(),
        quiet=(rules.QUIET_FROM, rules.QUIET_UNTIL),
    )  # fmt: skip
    return page, status


def _preview(key: str, schedule: rules.Schedule) -> dict[str, Any]:
    """The reminder of ?subscription=<id>&step=<n>, as the composer builds it, addressed to a
    sample person of the contact's language (the page shows the service, not the customer)."""
    chosen = request.args.get("subscription", "").strip()
    if not chosen:
        return {}
    step = request.args.get("step", type=int)
    step = step if step in schedule.steps else schedule.steps[0]
    if not chosen.isdigit() or len(chosen) > 18:
        return {"subscription": chosen, "step": step, "problem": translate("no_subscription")}
    found: dict[str, Any] = {"subscription": chosen, "step": step}
    try:
        locale, data, variants, purpose = reminders.preview_data(key, int(chosen), step)
        name, email = SAMPLE_PEOPLE.get(locale, SAMPLE_PEOPLE["vi"])
        with cpu_budget():
            raw = campaigns.preview(variants, purpose, data, Recipient(0, email, name, locale, {}))
    except NotFound:
        return {**found, "problem": translate("no_subscription")}
    except (TemplateError, DomainError, ValueError) as exc:
        return {**found, "problem": problem_text(str(exc))}
    return {**found, "mail": read_message(raw)}


@bp.get("/notices/types/<string(maxlength=64):key>/reminders")
@requires("notices.manage")
def reminders_page(key: str) -> tuple[str, int]:
    return _page(key)


@bp.post("/notices/types/<string(maxlength=64):key>/reminders")
@requires("notices.manage")
def reminders_save(key: str) -> Response | tuple[str, int]:
    form = ActionForm()
    steps, hour = request.form.get("steps", "")[:200], request.form.get("local_hour", "")[:4]
    paused = request.form.get("paused") == "on"
    values = {"steps": steps, "local_hour": hour, "paused": paused}
    if not form.validate_on_submit():
        flash(translate("form_invalid"), "error")
        return _page(key, values, status=400)
    number = hour.strip().removeprefix("-").isdigit()
    try:
        reminders.set_schedule(key, rules.parse_steps(steps), int(hour) if number else hour, paused)
    except ValidationFailed as exc:
        return _page(key, values, exc.errors, status=422)
    flash(translate("saved"), "success")
    return redirect(url_for("admin.reminders_page", key=key))
