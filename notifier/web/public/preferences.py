"""The preference center: choices, masked details, consent history and receipts."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from notifier.contacts import preferences
from notifier.contacts.contacts import Contact
from notifier.domain.errors import ValidationFailed
from notifier.domain.masking import mask
from notifier.infra.context import profile
from notifier.web.public.links import PREFERENCES, from_token, requester
from notifier.web.public.pages import bp, render


def _page(token: str, status: int = 200, **context: object) -> Response:
    contact, _ = from_token(token, PREFERENCES)
    return render(
        "public/preferences.html",
        status,
        contact=contact,
        token=token,
        choices=preferences.choices(contact.id),
        details=masked_details(contact),
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


# Shown only masked on every public page: a link holder may not be the person.
MASKED = frozenset({"phone", "address", "national_id", "birth_date"})


def masked_details(contact: Contact) -> dict[str, str]:
    """The details the person may change, as public pages show them."""
    active = profile()
    shown = {}
    for field in FIELD_ORDER:
        value = getattr(contact, field)
        if field not in active.self_editable | active.verified_fields or value in (None, ""):
            continue
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        shown[field] = mask(text) if field in MASKED else text
    return shown


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
