"""Email templates: list, edit MJML with a live preview, errors at their line, versions kept."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import templates
from notifier.campaigns.catalogue import (
    CampaignKind,
    Template,
    TemplateVersion,
    kept_version,
    templates_recent_first,
    versions_with_authors,
)
from notifier.delivery.composer import Recipient
from notifier.delivery.rendering.budget import cpu_budget
from notifier.delivery.rendering.errors import TemplateError
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.domain.errors import DomainError, ValidationFailed
from notifier.i18n import current_locale, translate
from notifier.infra.context import profile
from notifier.operations.mailview import read_message
from notifier.web.admin import bp
from notifier.web.admin.forms import TemplateForm, choices
from notifier.web.admin.guard import flash_errors, requires
from notifier.web.admin.problems import problem_text

SAMPLE_PEOPLE = {"vi": ("Nguyễn Văn An", "an.nguyen@example.com"),
                 "en": ("Alex Nguyen", "alex.nguyen@example.com")}  # fmt: skip
# The template form's fields and the catalogue keys of their labels on the page.
FORM_LABELS = {
    "name": "name", "kind": "kind", "purpose_key": "purpose", "subject": "subject",
    "body_mjml": "body_mjml", "text": "text_part", "sample_locale": "sample_language",
}  # fmt: skip


@bp.get("/templates")
@requires("templates.manage")
def email_templates() -> str:
    rows = templates_recent_first()
    return render_template(
        "admin/templates/list.html", rows=rows, layouts=builtin_layouts().values()
    )


def _form(template: Template | None = None) -> TemplateForm:
    form = TemplateForm(obj=template) if request.method == "GET" else TemplateForm()
    form.kind.choices = choices([(k.value, translate(f"kind_{k.value}")) for k in CampaignKind])
    form.purpose_key.choices = choices(
        [(p.key, p.name.get(current_locale())) for p in profile().purposes]
    )
    return form


def _input(form: TemplateForm) -> templates.TemplateInput:
    return templates.TemplateInput(
        name=form.name.data or "", kind=form.kind.data or "",
        purpose_key=form.purpose_key.data or "", subject=form.subject.data or "",
        body_mjml=_lf(form.body_mjml.data), text=_lf(form.text.data).strip() or None,
    )  # fmt: skip


def _lf(text: str | None) -> str:
    # Browsers submit textareas with CRLF line ends; the MJML parser and line numbers want LF.
    return (text or "").replace("\r\n", "\n")


@bp.route("/templates/new", methods=["GET", "POST"])
@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@requires("templates.manage")
def email_template(template_id: int | None = None) -> str | Response:
    template = templates.get_template(template_id) if template_id is not None else None
    form = _form(template)
    if request.method == "GET":
        _prefill(form, template)
    error = None
    if form.validate_on_submit():
        try:
            saved = templates.save_template(_input(form), template_id, current_user.id)
        except TemplateError as exc:
            error = exc
        except ValidationFailed as exc:
            flash_errors(exc)
        except DomainError as exc:
            flash(problem_text(str(exc)), "error")
        else:
            flash(translate("template_saved", version=saved.version), "success")
            return redirect(url_for("admin.email_template", template_id=saved.id))
    elif request.method == "POST":
        flash(translate("form_invalid"), "error")
    page = render_template(
        "admin/templates/edit.html", form=form, template=template, error=error,
        source_lines=_lines(form, error), versions=_versions(template),
        preview=None if error else _preview(_input(form), form.sample_locale.data or "vi"),
    )  # fmt: skip
    return (page, 422) if request.method == "POST" else page  # type: ignore[return-value]


def _prefill(form: TemplateForm, template: Template | None) -> None:
    """A new template starts from a built-in layout; ?version= reloads a kept version."""
    if template is None:
        layout = builtin_layouts().get(request.args.get("layout", "promotion"))
        layout = layout or builtin_layouts()["promotion"]
        form.kind.data, form.subject.data = layout.key, layout.subject
        form.body_mjml.data, form.text.data = layout.body, layout.text
        form.name.data = layout.name.get("vi")
        fitting = [p for p in profile().purposes if p.is_advertising == layout.advertising]
        form.purpose_key.data = (fitting or list(profile().purposes))[0].key
        return
    wanted = request.args.get("version", "")
    if wanted.isdigit():
        kept = kept_version(template.id, int(wanted))
        if kept is not None:
            form.subject.data, form.body_mjml.data, form.text.data = (
                kept.subject, kept.body_mjml, kept.text,
            )  # fmt: skip


def _versions(template: Template | None) -> list[tuple[TemplateVersion, str]]:
    if template is None:
        return []
    return versions_with_authors(template.id)


def _lines(form: TemplateForm, error: TemplateError | None) -> list[str]:
    if error is None:
        return []
    source = {"subject": form.subject.data, "body": form.body_mjml.data, "text": form.text.data}
    return (source.get(str(error.part)) or "").splitlines()


def _preview(data: templates.TemplateInput, locale: str) -> dict[str, Any]:
    """Rendered with the layout's sample data in the chosen language, as the composer builds it."""
    locale = locale if locale in SAMPLE_PEOPLE else "vi"
    name, email = SAMPLE_PEOPLE[locale]
    sample = templates.sample_for(data.kind)
    try:
        with cpu_budget():
            raw = campaigns.preview(
                data.subject, data.body_mjml, data.text, data.purpose_key,
                dict(sample.get(locale, sample.get("vi", {}))),
                Recipient(0, email, name, locale, {}),
            )  # fmt: skip
    except TemplateError as exc:
        return {"error": exc}
    except (DomainError, ValueError) as exc:
        return {"problem": problem_text(str(exc))}
    return {"mail": read_message(raw)}


@bp.post("/templates/preview")
@requires("templates.manage")
def email_template_preview() -> str | tuple[str, int]:
    form = _form()
    if not form.validate():
        # The live preview swaps this in (see the htmx-config of the edit page), so it says what
        # is missing instead of failing on an empty purpose or body.
        fields = ", ".join(translate(FORM_LABELS[name]) for name in form.errors)
        missing = {"problem": translate("preview_incomplete", fields=fields)}
        return render_template("admin/templates/_preview.html", preview=missing), 400
    data = _input(form)
    preview = _preview(data, form.sample_locale.data or "vi")
    lines = _lines(form, preview["error"]) if "error" in preview else []
    return render_template("admin/templates/_preview.html", preview=preview, source_lines=lines)
