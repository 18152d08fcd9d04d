"""Contact import: upload a CSV, check the preview, run it, read the per-row error report."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from notifier.contacts import imports
from notifier.contacts.importer import ImportAborted
from notifier.i18n import translate
from notifier.web.admin import import_results
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import ImportConfirmForm, ImportForm
from notifier.web.admin.guard import requires, staff_access
from notifier.web.admin.problems import problem_text

MAX_UPLOAD = 10 * 1024 * 1024


@bp.route("/contacts/import", methods=["GET", "POST"])
@requires("contacts.import")
def contacts_import() -> tuple[str, int]:
    form = ImportForm()
    if form.validate_on_submit():
        data = form.file.data.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            flash(translate("file_too_large"), "error")
            return render_template("admin/contacts/import.html", form=form), 413
        try:
            staged = imports.stage_upload(staff_access(), data, form.file.data.filename or "")
        except ImportAborted as exc:
            flash(f"{translate('import_refused')}: {problem_text(str(exc))}", "error")
            return render_template("admin/contacts/import.html", form=form), 422
        return render_template(
            "admin/contacts/import.html", form=form, staged=staged,
            confirm=ImportConfirmForm(upload=staged.token),
        ), 200  # fmt: skip
    return render_template("admin/contacts/import.html", form=form), 200


@bp.post("/contacts/import/run")
@requires("contacts.import")
def contacts_import_run() -> tuple[str, int] | Response:
    confirm = ImportConfirmForm()
    if not confirm.validate_on_submit():
        flash(translate("form_invalid"), "error")
        return render_template("admin/contacts/import.html", form=ImportForm()), 422
    token = confirm.upload.data or ""
    try:
        result = imports.run(staff_access(), token)
    except ImportAborted as exc:
        flash(f"{translate('import_refused')}: {problem_text(str(exc))}", "error")
        return render_template("admin/contacts/import.html", form=ImportForm()), 422
    import_results.save(token, result)
    # Post/redirect/get: reloading the result shows it again instead of re-posting a used upload.
    return redirect(url_for("admin.contacts_import_result", token=token), 303)


@bp.get("/contacts/import/<token>")
@requires("contacts.import")
def contacts_import_result(token: str) -> tuple[str, int]:
    result = import_results.load(token)
    return render_template("admin/contacts/import.html", form=ImportForm(), result=result), 200
