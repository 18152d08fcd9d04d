"""Staff accounts and roles, and the settings page (profile, identity, SMTP and DKIM status)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from notifier.domain.errors import DomainError, ValidationFailed
from notifier.i18n import current_locale, translate
from notifier.infra import context
from notifier.infra.context import profile
from notifier.operations import staff as staff_service
from notifier.operations.relay_status import group_rows, relay_rows, shared_row
from notifier.operations.sign_in import set_active
from notifier.operations.staff import StaffUser
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import ActionForm, StaffForm, choices
from notifier.web.admin.guard import flash_errors, requires
from notifier.web.admin.problems import problem_text


def _form() -> StaffForm:
    form = StaffForm()
    form.role.choices = choices([(r.key, r.name.get(current_locale())) for r in profile().roles])
    return form


def _page(form: StaffForm, created: tuple[StaffUser, str] | None = None, status: int = 200
          ) -> tuple[str, int]:  # fmt: skip
    users = staff_service.staff_accounts()
    page = render_template(
        "admin/staff.html", users=users, roles=profile().roles, form=form, created=created,
        action=ActionForm(),
    )  # fmt: skip
    return page, status


@bp.get("/staff")
@requires("staff.manage")
def staff() -> tuple[str, int]:
    return _page(_form())


@bp.post("/staff")
@requires("staff.manage")
def staff_create() -> tuple[str, int]:
    form = _form()
    if not form.validate_on_submit():
        flash(translate("form_invalid"), "error")
        return _page(form, status=422)
    try:
        created = staff_service.create_staff(
            form.email.data or "", form.role.data or "", (form.name.data or "").strip()
        )
    except ValidationFailed as exc:
        flash_errors(exc)
        return _page(form, status=422)
    except DomainError as exc:
        flash(problem_text(str(exc)), "error")
        return _page(form, status=409)
    # The generated password appears in this response only.
    return _page(_form(), created=created)


@bp.post("/staff/<int:user_id>/<any(activate, deactivate):step>")
@requires("staff.manage")
def staff_active(user_id: int, step: str) -> Response:
    if ActionForm().validate_on_submit():
        try:
            set_active(user_id, step == "activate", current_user.id)
        except ValidationFailed as exc:
            flash_errors(exc)
        else:
            flash(translate("saved"), "success")
    return redirect(url_for("admin.staff"))


@bp.get("/settings")
@requires("settings.view")
def settings() -> str:
    config = context.settings()
    smtp = config.SMTP_URL
    parts = urlsplit(smtp) if smtp else None
    # Never show the relay's password: the scheme, host and port are what an operator checks.
    relay = f"{parts.scheme}://{parts.hostname}:{parts.port or ''}" if parts else None
    key_file = config.DKIM_KEY_FILE
    dkim = {
        "domain": config.DKIM_DOMAIN,
        "selector": config.DKIM_SELECTOR,
        "key_file": key_file,
        "readable": bool(key_file) and os.access(key_file, os.R_OK),
    }
    return render_template(
        "admin/settings.html", p=profile(), relay=relay, outbox_port=config.OUTBOX_PORT,
        dkim=dkim, base_url=config.PUBLIC_BASE_URL, relays=relay_rows(),
        relays_all=shared_row(), groups=group_rows(),
    )  # fmt: skip
