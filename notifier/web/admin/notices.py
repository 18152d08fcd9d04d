"""Renewal notices: the types the billing system may trigger, recent notices, and API keys."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from notifier.campaigns.catalogue import template_names, templates_for_purposes
from notifier.domain.errors import DomainError, ValidationFailed
from notifier.i18n import current_locale, translate
from notifier.infra.context import profile
from notifier.notices import notices
from notifier.notices.overview import contact_labels, notice_types, recent_notices
from notifier.operations import staff
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import ActionForm, ApiKeyForm, NoticeTypeForm, choices
from notifier.web.admin.guard import flash_errors, requires, staff_access
from notifier.web.admin.problems import problem_text

RECENT = 50


def _type_form() -> NoticeTypeForm:
    form = NoticeTypeForm()
    service = [p for p in profile().purposes if not p.is_advertising]
    form.purpose_key.choices = choices([(p.key, p.name.get(current_locale())) for p in service])
    keys = [p.key for p in service]
    rows = templates_for_purposes(keys)
    form.template_id.choices = choices([(str(t.id), f"{t.name} (v{t.version})") for t in rows])
    return form


def _key_form() -> ApiKeyForm:
    form = ApiKeyForm()
    form.scopes.choices = choices([(s, s) for s in sorted(staff.API_SCOPES)])
    return form


def _page(issued: staff.IssuedKey | None = None, status: int = 200) -> tuple[str, int]:
    types = notice_types()
    recent = recent_notices(RECENT)
    keys = staff.api_keys()
    names = template_names()
    people = contact_labels(staff_access(), {n.contact_id for n in recent})
    page = render_template(
        "admin/notices.html", types=types, recent=recent, keys=keys, template_names=names,
        people=people,
        type_form=_type_form(), key_form=_key_form(), action=ActionForm(), issued=issued,
    )  # fmt: skip
    return page, status


@bp.get("/notices")
@requires("notices.manage")
def notices_page() -> tuple[str, int]:
    return _page()


@bp.post("/notices/types")
@requires("notices.manage")
def notice_type_save() -> Response | tuple[str, int]:
    form = _type_form()
    if not form.validate_on_submit():
        flash(translate("form_invalid"), "error")
        return _page(status=422)
    key = (form.key.data or "").strip().lower()
    if not key.replace("_", "").replace("-", "").isalnum() or not key.isascii():
        flash(f"{translate('field_key')}: {translate('key_rule')}", "error")
        return _page(status=422)
    try:
        notices.define_notice_type(key, (form.name.data or "").strip(), form.purpose_key.data or "",
                                   int(form.template_id.data or 0))  # fmt: skip
    except ValidationFailed as exc:
        flash_errors(exc)
        return _page(status=422)
    except DomainError as exc:
        flash(problem_text(str(exc)), "error")
        return _page(status=422)
    flash(translate("saved"), "success")
    return redirect(url_for("admin.notices_page"))


@bp.post("/notices/keys")
@requires("apikeys.manage")
def api_key_create() -> tuple[str, int]:
    form = _key_form()
    if not form.validate_on_submit():
        flash(translate("form_invalid"), "error")
        return _page(status=422)
    try:
        issued = staff.create_api_key(form.name.data or "", list(form.scopes.data or []))
    except ValidationFailed as exc:
        flash_errors(exc)
        return _page(status=422)
    # Shown in this response only: never stored in the session or anywhere but its hash.
    return _page(issued=issued)


@bp.post("/notices/keys/<int:key_id>/revoke")
@requires("apikeys.manage")
def api_key_revoke(key_id: int) -> Response:
    if ActionForm().validate_on_submit():
        staff.revoke_api_key(key_id)
        flash(translate("key_revoked"), "success")
    return redirect(url_for("admin.notices_page"))
