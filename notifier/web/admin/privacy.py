"""The privacy requests queue: due dates first, overdue ones marked, each action one button."""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from notifier.domain.errors import DomainError, ValidationFailed
from notifier.i18n import translate
from notifier.infra.clock import utcnow
from notifier.operations.access import Forbidden
from notifier.privacy import staff_queue as privacy_queue
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import ActionForm, OutcomeForm
from notifier.web.admin.guard import flash_errors, requires, staff_access
from notifier.web.admin.problems import problem_text


@bp.get("/privacy")
@requires("privacy.handle")
def privacy_requests() -> str:
    show = "all" if request.args.get("show") == "all" else "open"
    views = privacy_queue.queue(staff_access(), show)
    return render_template("admin/privacy/list.html", views=views, show=show, now=utcnow())


@bp.get("/privacy/<int:request_id>")
@requires("privacy.handle")
def privacy_request(request_id: int) -> str:
    view = privacy_queue.detail(staff_access(), request_id)
    return render_template(
        "admin/privacy/detail.html", view=view, r=view.request, now=utcnow(),
        action=ActionForm(), answer=OutcomeForm(),
    )  # fmt: skip


@bp.post("/privacy/<int:request_id>/<any(acknowledge, approve, reject, answer, erase):step>")
@requires("privacy.handle")
def privacy_action(request_id: int, step: str) -> Response:
    form = OutcomeForm()
    if not form.validate_on_submit():
        flash(translate("form_invalid"), "error")
        return redirect(url_for("admin.privacy_request", request_id=request_id))
    access, note = staff_access(), form.outcome.data or ""
    try:
        if step == "acknowledge":
            privacy_queue.acknowledge(access, request_id)
        elif step in ("approve", "reject"):
            privacy_queue.decide_correction(access, request_id, step == "approve", note)
        elif step == "answer":
            privacy_queue.answer(access, request_id, note)
        else:
            privacy_queue.erase(access, request_id)
    except ValidationFailed as exc:
        flash_errors(exc)
    except DomainError as exc:
        flash(problem_text(str(exc)), "error")
    else:
        flash(translate(f"privacy_done_{step}"), "success")
    return redirect(url_for("admin.privacy_request", request_id=request_id))


@bp.post("/privacy/<int:request_id>/export")
@requires("privacy.handle")
def privacy_export(request_id: int) -> Response | tuple[str, int]:
    try:
        data = privacy_queue.run_export(staff_access(), request_id)
    except Forbidden as exc:
        detail = translate("privacy_export_forbidden", fields=str(exc))
        return render_template("admin/error.html", code=403, detail=detail), 403
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2, default=str), mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=export-{request_id}.json"},
    )  # fmt: skip
