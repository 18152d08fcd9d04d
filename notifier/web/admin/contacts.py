"""Contacts: search, the contact page with its consent timeline, edit, phone refusal, export."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from notifier.campaigns import contact_engagement
from notifier.contacts import directory
from notifier.domain.errors import Conflict, ValidationFailed
from notifier.i18n import translate
from notifier.infra.context import profile
from notifier.infra.unit_of_work import discard
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import ContactSearchForm, RefusalForm, choices
from notifier.web.admin.guard import field_label, flash_errors, requires, staff_access

# Beside the name and email, what staff scan a list for; the other fields are on the contact page,
# so the table fits a 1280 px screen whatever the role sees.
LIST_COLUMNS = ("phone", "tags", "contract_ends_on")
ENGAGEMENT_ROWS = 20  # the newest opens and clicks on the contact page; the rest on their own page


def _query() -> directory.SearchQuery:
    page = request.args.get("page", "1")
    return directory.SearchQuery(
        text=request.args.get("q", "")[:200],
        purpose=request.args.get("purpose", "")[:64],
        status=request.args.get("status", "")[:16] if request.args.get("purpose") else "",
        tag=request.args.get("tag", "")[:64],
        page=int(page) if page.isdigit() else 1,
    )


@bp.get("/contacts")
@requires("contacts.view")
def contacts() -> str:
    access = staff_access()
    form = ContactSearchForm(request.args)
    query = _query()
    try:
        found = directory.search(access, query)
    except ValidationFailed as exc:
        flash_errors(exc)
        found = directory.search(access, directory.SearchQuery(text=query.text))
    return render_template(
        "admin/contacts/list.html", form=form, found=found, query=query,
        purposes=profile().purposes, statuses=directory.STATUSES,
        sees_consent=directory.sees_consent(access),
        columns=[column for column in LIST_COLUMNS if access.sees(column)],
    )  # fmt: skip


@bp.get("/contacts/export.csv")
@requires("contacts.export")
def contacts_export() -> Response:
    body = directory.export_csv(staff_access(), _query())
    return Response(
        body, mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=contacts.csv"},
    )  # fmt: skip


@bp.get("/contacts/<int:contact_id>")
@requires("contacts.view")
def contact(contact_id: int) -> str:
    access = staff_access()
    detail = directory.contact_detail(access, contact_id)
    form = RefusalForm()
    form.purposes.choices = choices(_purpose_choices())
    # Their opens and clicks only for a role allowed to see them: not even an empty section else.
    engagement = None
    if access.can(contact_engagement.PERMISSION):
        engagement = contact_engagement.contact_events(access, contact_id, ENGAGEMENT_ROWS)
    return render_template(
        "admin/contacts/detail.html", detail=detail, c=detail.fields, refusal=form,
        purposes=profile().purposes, sees_consent=directory.sees_consent(access),
        engagement=engagement,
    )  # fmt: skip


@bp.route("/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
@requires("contacts.edit")
def contact_edit(contact_id: int) -> str | Response:
    access = staff_access()
    if request.method == "POST":
        fields = _form_fields(access.editable)
        # Everything submitted goes to the service, which refuses fields the role cannot see.
        data = {name: value for name, value in request.form.items() if name != "csrf_token"}
        try:
            directory.edit(access, contact_id, data)
        except ValidationFailed as exc:
            flash_errors(exc)
            status = 422
        except Conflict:
            discard()  # the edit's audit row was staged before the check refused it
            # Not the other contact's id or name: the role may not be allowed to look it up.
            flash(f"{field_label('email')}: {translate('email_taken')}", "error")
            status = 409
        else:
            flash(translate("saved"), "success")
            return redirect(url_for("admin.contact", contact_id=contact_id))
        page = render_template(
            "admin/contacts/edit.html", c={"id": contact_id, **dict.fromkeys(fields), **data},
            fields=fields,
        )  # fmt: skip
        return page, status  # type: ignore[return-value]
    detail = directory.contact_detail(access, contact_id)
    values = dict(detail.fields)
    values["tags"] = ", ".join(values.get("tags") or [])
    return render_template(
        "admin/contacts/edit.html", c=values, fields=_form_fields(access.editable)
    )


@bp.post("/contacts/<int:contact_id>/refusal")
@requires("consent.record_refusal")
def contact_refusal(contact_id: int) -> Response:
    form = RefusalForm()
    form.purposes.choices = choices(_purpose_choices())
    if not form.validate_on_submit():
        flash(translate("choose_purpose"), "error")
        return redirect(url_for("admin.contact", contact_id=contact_id))
    try:
        result = directory.record_phone_refusal(
            staff_access(), contact_id, list(form.purposes.data or []), form.note.data or ""
        )
    except ValidationFailed as exc:
        flash_errors(exc)
    else:
        key = "refusal_recorded" if result.changed else "refusal_nothing_to_change"
        flash(translate(key), "success")
    return redirect(url_for("admin.contact", contact_id=contact_id))


def _purpose_choices() -> list[tuple[str, str]]:
    return [(p.key, p.key) for p in profile().purposes]


# Edited as free text on the page; structured fields (attributes, deal) have their own sources.
def _form_fields(editable: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in editable if name not in ("attributes", "deal"))
