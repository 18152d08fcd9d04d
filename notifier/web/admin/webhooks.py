"""Outgoing webhook endpoints (admin role): add, enable or disable, rotate the secret, and each
endpoint's delivery log with a redeliver button."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from notifier.domain.errors import ValidationFailed
from notifier.domain.webhooks import EVENT_TYPES
from notifier.i18n import translate
from notifier.operations import webhook_endpoints as endpoints
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import ActionForm, WebhookEndpointForm, choices
from notifier.web.admin.guard import flash_errors, requires, staff_access

PERMISSION = "webhooks.manage"


def _form() -> WebhookEndpointForm:
    form = WebhookEndpointForm()
    form.events.choices = choices((e, e) for e in EVENT_TYPES)
    return form


def _page(
    form: WebhookEndpointForm, created: tuple[str, str] | None = None, status: int = 200
) -> tuple[str, int]:
    page = render_template(
        "admin/webhooks.html",
        endpoints=endpoints.endpoints(),
        form=form,
        created=created,
        action=ActionForm(),
        event_types=EVENT_TYPES,
    )
    return page, status


@bp.get("/webhooks")
@requires(PERMISSION)
def webhooks() -> tuple[str, int]:
    return _page(_form())


@bp.post("/webhooks")
@requires(PERMISSION)
def webhook_create() -> tuple[str, int]:
    form = _form()
    if not form.validate_on_submit():
        flash(translate("form_invalid"), "error")
        return _page(form, status=422)
    access = staff_access()
    try:
        view, secret = endpoints.create(
            form.url.data or "",
            list(form.events.data or []),
            form.description.data or "",
            access.actor,
            access.ip,
        )
    except ValidationFailed as exc:
        flash_errors(exc)
        return _page(form, status=422)
    # The secret appears in this response only.
    return _page(_form(), created=(view.url, secret), status=201)


@bp.post("/webhooks/<int:endpoint_id>/<any(enable, disable):step>")
@requires(PERMISSION)
def webhook_enable(endpoint_id: int, step: str) -> Response:
    if ActionForm().validate_on_submit():
        access = staff_access()
        endpoints.update(endpoint_id, access.actor, enabled=step == "enable", ip=access.ip)
        flash(translate("saved"), "success")
    return redirect(url_for("admin.webhooks"))


@bp.post("/webhooks/<int:endpoint_id>/rotate")
@requires(PERMISSION)
def webhook_rotate(endpoint_id: int) -> tuple[str, int] | Response:
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin.webhooks"))
    access = staff_access()
    secret = endpoints.rotate_secret(endpoint_id, access.actor, access.ip)
    return _page(_form(), created=(endpoints.endpoint(endpoint_id).url, secret))


@bp.get("/webhooks/<int:endpoint_id>")
@requires(PERMISSION)
def webhook_log(endpoint_id: int) -> str:
    return render_template(
        "admin/webhook_log.html",
        endpoint=endpoints.endpoint(endpoint_id),
        deliveries=endpoints.deliveries(endpoint_id),
        action=ActionForm(),
    )


@bp.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
@requires(PERMISSION)
def webhook_redeliver(delivery_id: int) -> Response:
    endpoint_id = request.form.get("endpoint_id", type=int)
    if ActionForm().validate_on_submit():
        access = staff_access()
        try:
            view = endpoints.redeliver(delivery_id, access.actor, access.ip)
        except ValidationFailed as exc:
            flash_errors(exc)
        else:
            endpoint_id = view.endpoint_id
            flash(translate("webhook_redelivered"), "success")
    if endpoint_id:
        return redirect(url_for("admin.webhook_log", endpoint_id=endpoint_id))
    return redirect(url_for("admin.webhooks"))
