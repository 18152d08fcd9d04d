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
from notifier.delivery.rendering.errors import Part, TemplateError
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.domain.errors import DomainError, ValidationFailed
from notifier.domain.locales import Variant, Variants, variant_locale
from notifier.i18n import current_locale, translate
from notifier.infra.context import profile
from notifier.operations.mailview import read_message
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import TemplateForm, choices
from notifier.web.admin.guard import flash_errors, requires
from notifier.web.admin.problems import problem_text

SAMPLE_PEOPLE = {"vi": ("Nguyễn Văn An", "an.nguyen@example.com"),
                 "en": ("Alex Nguyen", "alex.nguyen@example.com")}  # fmt: skip
# The template form's fields and the catalogue keys of their labels on the page.
FORM_LABELS = {
    "name": "name", "kind": "kind", "purpose_key": "purpose", "subject": "subject",
    "body_mjml": "body_mjml", "text": "text_part", "sample_locale": "sample_language",
    "en_subject": "en_subject", "en_body_mjml": "en_body_mjml", "en_text": "en_text_part",
}  # fmt: skip
# The form field (its id) that holds each part a template error names.
ERROR_FIELDS = {Part.SUBJECT: "subject", Part.BODY: "body_mjml", Part.TEXT: "text"}
# The form fields of each variant's parts (see notifier/domain/locales.py).
VARIANT_FIELDS = {"vi": ("subject", "body_mjml", "text"),
                  "en": ("en_subject", "en_body_mjml", "en_text")}  # fmt: skip


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
    english = Variant(
        (form.en_subject.data or "").strip(), _lf(form.en_body_mjml.data),
        _lf(form.en_text.data).strip() or None,
    )  # fmt: skip
    # An English variant is there when staff wrote any of it; save refuses one half written.
    written = english.subject or english.body_mjml.strip() or english.text
    return templates.TemplateInput(
        name=form.name.data or "", kind=form.kind.data or "",
        purpose_key=form.purpose_key.data or "", subject=form.subject.data or "",
        body_mjml=_lf(form.body_mjml.data), text=_lf(form.text.data).strip() or None,
        variants={"en": english} if written else {},
    )  # fmt: skip


def _fill(form: TemplateForm, variants: Variants) -> None:
    """Put each variant's parts in its fields; a locale without a variant leaves them empty."""
    chosen = dict(variants)
    for locale, names in VARIANT_FIELDS.items():
        variant = chosen.get(locale)
        values = (variant.subject, variant.body_mjml, variant.text) if variant else ("", "", "")
        for name, value in zip(names, values, strict=True):
            getattr(form, name).data = value


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
    preview = None if error else _preview(_input(form), form.sample_locale.data or "vi")
    shown = error or (preview or {}).get("error")
    page = render_template(
        "admin/templates/edit.html", form=form, template=template, error=error,
        source_lines=_lines(form, shown), versions=_versions(template), preview=preview,
        error_field=_error_field(shown), error_summary=_summary(error),
    )  # fmt: skip
    return (page, 422) if request.method == "POST" else page  # type: ignore[return-value]


def _prefill(form: TemplateForm, template: Template | None) -> None:
    """A new template starts from a built-in layout; ?version= reloads a kept version."""
    if template is None:
        layout = builtin_layouts().get(request.args.get("layout", "promotion"))
        layout = layout or builtin_layouts()["promotion"]
        form.kind.data = layout.key
        _fill(form, layout.variants)
        form.name.data = layout.name.get("vi")
        fitting = [p for p in profile().purposes if p.is_advertising == layout.advertising]
        form.purpose_key.data = (fitting or list(profile().purposes))[0].key
        return
    _fill(form, template.sources())
    wanted = request.args.get("version", "")
    if wanted.isdigit():
        kept = kept_version(template.id, int(wanted))
        if kept is not None:
            _fill(form, kept.sources())


def _versions(template: Template | None) -> list[tuple[TemplateVersion, str]]:
    if template is None:
        return []
    return versions_with_authors(template.id)


def _error_field(error: TemplateError | None) -> str | None:
    """The id of the form field that holds the part in error, in the variant that failed."""
    if error is None or error.part not in ERROR_FIELDS:
        return None
    parts = ("subject", "body", "text")
    fields = VARIANT_FIELDS.get(error.locale or "vi", VARIANT_FIELDS["vi"])
    return dict(zip(parts, fields, strict=True))[str(error.part)]


def _summary(error: TemplateError | None) -> list[tuple[str, str]]:
    """The base page's error summary: each problem and the id of the field to fix it in."""
    if error is None:
        return []
    where = translate(f"part_{error.part}")
    if error.line:
        where += f", {translate('line')} {error.line}"
    return [(_error_field(error) or ERROR_FIELDS[error.part], f"{where}: {error.problem}")]


def _lines(form: TemplateForm, error: TemplateError | None) -> list[str]:
    if error is None:
        return []
    names = dict(zip(("subject", "body", "text"), VARIANT_FIELDS[error.locale], strict=True))
    return (getattr(form, names[str(error.part)]).data or "").splitlines()


def _preview(data: templates.TemplateInput, locale: str) -> dict[str, Any]:
    """What a contact of the chosen language gets, as the composer builds it: that language's
    variant (or the Vietnamese one it falls back to) with the layout's sample data."""
    locale = locale if locale in SAMPLE_PEOPLE else "vi"
    name, email = SAMPLE_PEOPLE[locale]
    sample = templates.sample_for(data.kind)
    variants = data.sources()
    try:
        with cpu_budget():
            raw = campaigns.preview(
                variants, data.purpose_key, dict(sample), Recipient(0, email, name, locale, {}),
            )  # fmt: skip
    except TemplateError as exc:
        return {"error": exc}
    except (DomainError, ValueError) as exc:
        return {"problem": problem_text(str(exc))}
    fallback = variant_locale(locale, dict(variants)) != locale
    return {"mail": read_message(raw), "fallback": fallback}


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
    error = preview.get("error")
    return render_template(
        "admin/templates/_preview.html", preview=preview, source_lines=_lines(form, error),
        error_field=_error_field(error),
    )  # fmt: skip
