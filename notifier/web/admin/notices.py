"""Renewal notices: the types the billing system may trigger, recent notices, and API keys."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from notifier.domain.errors import DomainError, ValidationFailed
from notifier.i18n import current_locale, translate
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import ApiKey, Contact, Notice, NoticeType, Template
from notifier.notices import notices
from notifier.operations import staff
from notifier.operations.access import Access
from notifier.web.admin import bp
from notifier.web.admin.forms import ActionForm, ApiKeyForm, NoticeTypeForm, choices
from notifier.web.admin.guard import flash_errors, requires, staff_access
from notifier.web.admin.problems import problem_text

RECENT = 50


def _type_form() -> NoticeTypeForm:
    form = NoticeTypeForm()
    service = [p for p in profile().purposes if not p.is_advertising]
    form.purpose_key.choices = choices([(p.key, p.name.get(current_locale())) for p in service])
    keys = [p.key for p in service]
    rows = db.session.scalars(select(Template).where(Template.purpose_key.in_(keys))).all()
    form.template_id.choices = choices([(str(t.id), f"{t.name} (v{t.version})") for t in rows])
    return form


def _key_form() -> ApiKeyForm:
    form = ApiKeyForm()
    form.scopes.choices = choices([(s, s) for s in sorted(staff.API_SCOPES)])
    return form


def _page(issued: staff.IssuedKey | None = None, status: int = 200) -> tuple[str, int]:
    types = db.session.scalars(select(NoticeType).order_by(NoticeType.key)).all()
    recent = db.session.scalars(select(Notice).order_by(Notice.id.desc()).limit(RECENT)).all()
    keys = db.session.scalars(select(ApiKey).order_by(ApiKey.id.desc())).all()
    names = {t.id: t.name for t in db.session.scalars(select(Template))}
    people = _contact_labels(staff_access(), {n.contact_id for n in recent})
    page = render_template(
        "admin/notices.html", types=types, recent=recent, keys=keys, template_names=names,
        people=people,
        type_form=_type_form(), key_form=_key_form(), action=ActionForm(), issued=issued,
    )  # fmt: skip
    return page, status


def _contact_labels(access: Access, contact_ids: set[int]) -> dict[int, str]:
    """Name and address as far as the role may see them; showing them is logged like a search."""
    shown = [field for field in ("name", "email") if access.sees(field)]
    if not shown or not contact_ids:
        return {}
    rows = db.session.execute(
        select(Contact.id, Contact.name, Contact.email).where(Contact.id.in_(contact_ids))
    )
    labels = {}
    for contact_id, name, email in rows:
        parts = [name if "name" in shown else None, email if "email" in shown else None]
        label = " · ".join(part for part in parts if part)
        if label:
            labels[contact_id] = label
    access.audit("notices.list", "contact", "", ids=sorted(labels))
    db.session.commit()
    return labels


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
