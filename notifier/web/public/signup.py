"""The sign-up form and the confirmation links of double opt-in and of an email change."""

from __future__ import annotations

import hashlib

from flask import request
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from notifier.contacts import preferences, signup
from notifier.contacts.consent_ledger import advertising_keys
from notifier.domain.errors import ValidationFailed
from notifier.infra.context import profile
from notifier.infra.extensions import limiter
from notifier.web.public.links import requester
from notifier.web.public.messages import field_errors
from notifier.web.public.pages import bp, page_locale, render

# Bots fill every field; people never see this one (hidden from screen readers as well).
HONEYPOT = "website"


def _form(status: int = 200, **context: object) -> Response:
    purposes = [profile().purpose(key) for key in advertising_keys()]
    return render("public/subscribe.html", status, purposes=purposes, **context)


@bp.get("/subscribe")
def subscribe_form() -> Response:
    return _form(embedded=request.args.get("embed") == "1")


def _mailbox() -> str:
    """The rate-limit bucket of the address typed in: only a digest is stored."""
    typed = request.form.get("email", "").strip().lower()
    return "signup:" + hashlib.sha256(typed.encode("utf-8", "replace")).hexdigest()[:32]


@bp.post("/subscribe")
# Per client address and per mailbox: a form must not become a way to flood someone's inbox.
@limiter.limit("5 per 10 minutes", key_func=get_remote_address)
@limiter.limit("3 per day", key_func=_mailbox)
def subscribe() -> Response:
    form = request.form
    values = {"email": form.get("email", ""), "name": form.get("name", "")}
    ticked = form.getlist("purpose")
    if form.get(HONEYPOT):
        return render("public/subscribe_sent.html")  # looks like success, does nothing
    try:
        signup.subscribe(values["email"], values["name"], ticked, requester())
    except ValidationFailed as exc:
        errors = field_errors(exc.errors, page_locale())
        return _form(422, errors=errors, values=values, ticked=ticked)
    return render("public/subscribe_sent.html")


@bp.get("/confirm/<tokens>")
def confirm_page(tokens: str) -> Response:
    """A button, not an action: scanners that open links must not confirm for the person."""
    return render("public/confirm.html", tokens=tokens, confirmed=None)


@bp.post("/confirm/<tokens>")
def confirm(tokens: str) -> Response:
    keys = signup.confirm(tokens, requester())
    confirmed = [profile().purpose(key) for key in keys]
    return render("public/confirm.html", tokens=tokens, confirmed=confirmed)


@bp.get("/email/<token>")
def email_change_page(token: str) -> Response:
    return render("public/email_change.html", token=token, contact=None)


@bp.post("/email/<token>")
def email_change(token: str) -> Response:
    contact = preferences.confirm_email_change(token, requester())
    return render("public/email_change.html", token=token, contact=contact)
