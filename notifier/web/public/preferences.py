"""The preference center: choices, profile edits, consent history and receipts."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from notifier.contacts import preferences
from notifier.domain.errors import ValidationFailed
from notifier.infra.context import profile
from notifier.web.public import bp, page_locale, render
from notifier.web.public.links import PREFERENCES, from_token, requester
from notifier.web.public.messages import field_errors


def _page(token: str, status: int = 200, **context: object) -> Response:
    contact, _ = from_token(token, PREFERENCES)
    active = profile()
    return render(
        "public/preferences.html",
        status,
        contact=contact,
        token=token,
        choices=preferences.choices(contact.id),
        editable=[f for f in FIELD_ORDER if f in active.self_editable],
        verified=[f for f in FIELD_ORDER if f in active.verified_fields],
        **context,
    )


# The order fields appear in on the page; the profile decides which of them appear at all.
FIELD_ORDER = [
    "name",
    "email",
    "phone",
    "address",
    "contact_person",
    "organisation",
    "national_id",
    "birth_date",
    "locale",
]


@bp.get("/p/<token>")
def preference_center(token: str) -> Response:
    return _page(token)


@bp.post("/p/<token>/choices")
def save_choices(token: str) -> Response:
    contact, _ = from_token(token, PREFERENCES)
    wanted = set(request.form.getlist("purpose"))
    try:
        result = preferences.save_choices(contact.id, wanted, requester(contact))
    except ValidationFailed:
        return _page(token, 422, choice_error=True)
    return _page(token, saved_choices=result)


@bp.post("/p/<token>/profile")
def save_profile(token: str) -> Response:
    contact, _ = from_token(token, PREFERENCES)
    active = profile()
    allowed = active.self_editable | active.verified_fields
    data = {f: request.form[f] for f in allowed if f in request.form}
    if not data.get("email", "x").strip():
        data.pop("email")  # an emptied email box means "keep it", never "remove my address"
    try:
        change = preferences.update_profile(contact.id, data, requester(contact))
    except ValidationFailed as exc:
        errors = field_errors(exc.errors, page_locale(contact))
        return _page(token, 422, errors=errors, values=data)
    return _page(token, saved_profile=change)


@bp.get("/p/<token>/history")
def consent_history(token: str) -> Response:
    contact, _ = from_token(token, PREFERENCES)
    return render(
        "public/history.html",
        contact=contact,
        token=token,
        rows=preferences.history(contact.id),
    )


@bp.get("/p/<token>/receipt/<int:event_id>")
def consent_receipt(token: str, event_id: int) -> Response:
    contact, _ = from_token(token, PREFERENCES)
    receipt = preferences.receipt(contact.id, event_id)
    response = render("public/receipt.html", contact=contact, token=token, receipt=receipt)
    if request.args.get("download") == "1":
        name = f"consent-receipt-{receipt.event.id}.html"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
