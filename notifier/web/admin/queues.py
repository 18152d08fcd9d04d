"""The queues page (the equal of rq-dashboard): depths, workers and failed jobs, for admins."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from notifier.i18n import translate
from notifier.infra.clock import utcnow
from notifier.operations import queue_monitor
from notifier.operations.queue_monitor import QueuesUnavailable, UnknownJob, UnknownQueue
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import QueueForm, QueueJobForm
from notifier.web.admin.guard import requires, staff_access


@bp.get("/queues")
@requires(queue_monitor.PERMISSION)
def queues() -> tuple[str, int]:
    page = request.args.get("page", "1")
    wanted = request.args.get("failed", "")[:64]
    try:
        found = queue_monitor.overview(
            staff_access(), utcnow(), wanted, int(page) if page.isdigit() else 1
        )
    except QueuesUnavailable:
        flash(translate("queues_unavailable"), "error")
        return render_template("admin/queues.html", found=None), 503
    page_html = render_template(
        "admin/queues.html", found=found, job_form=QueueJobForm(), queue_form=QueueForm()
    )
    return page_html, 200


@bp.post("/queues/jobs/<any(requeue, delete):step>")
@requires(queue_monitor.PERMISSION)
def queue_job(step: str) -> Response:
    form = QueueJobForm()
    if not form.validate_on_submit():
        return _refused("form_invalid")
    job_id = form.job_id.data or ""
    act = queue_monitor.requeue if step == "requeue" else queue_monitor.delete
    try:
        name = act(staff_access(), job_id)
    except UnknownJob:
        return _refused("queues_unknown_job", job=job_id)
    except QueuesUnavailable:
        return _refused("queues_unavailable")
    flash(translate(f"queues_done_{step}", job=job_id, queue=name), "success")
    return redirect(url_for("admin.queues", failed=name))


@bp.post("/queues/requeue-all")
@requires(queue_monitor.PERMISSION)
def queue_requeue_all() -> Response:
    form = QueueForm()
    if not form.validate_on_submit():
        return _refused("form_invalid")
    name = form.queue.data or ""
    try:
        moved = queue_monitor.requeue_all(staff_access(), name)
    except UnknownQueue:
        return _refused("queues_unknown_queue", queue=name)
    except QueuesUnavailable:
        return _refused("queues_unavailable")
    flash(translate("queues_done_requeue_all", count=moved, queue=name), "success")
    return redirect(url_for("admin.queues", failed=name))


def _refused(key: str, **values: object) -> Response:
    flash(translate(key, **values), "error")
    return redirect(url_for("admin.queues"))
