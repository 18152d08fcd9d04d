"""The link that confirms a refusal by email whose sender could not be authenticated."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from notifier.contacts import refusal_checks
from notifier.contacts.preferences import choices, linked_contact
from notifier.web.public.links import PREFERENCES, requester, token_for
from notifier.web.public.pages import Problem, bp, render


def _pending(signed: str) -> refusal_checks.Pending:
    try:
        return refusal_checks.read(signed)
    except refusal_checks.LinkExpired:
        raise Problem("expired_refusal_link", 410) from None


@bp.get("/r/<signed>")
def refusal_check_page(signed: str) -> Response:
    """A question and a button: link scanners that open every URL must not refuse for anyone."""
    contact = linked_contact(_pending(signed).contact_id)
    return render("public/refusal_check.html", contact=contact, signed=signed)


@bp.post("/r/<signed>")
def confirm_refusal(signed: str) -> Response:
    contact = linked_contact(_pending(signed).contact_id)
    if request.form.get("confirm") != "yes":
        raise Problem("bad_request", 400)
    refusal = refusal_checks.confirm(signed, requester(contact))
    return render(
        "public/unsubscribed.html",
        contact=contact,
        purpose=None,
        refusal=refusal,
        preferences_token=token_for(contact, PREFERENCES),
        choices=choices(contact.id),
    )
