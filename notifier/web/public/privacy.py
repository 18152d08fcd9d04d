"""Privacy requests from the preference center: restriction and complaint at once; export and
erasure only through a link to the address of record (see verified.py)."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from notifier.domain.errors import ValidationFailed
from notifier.privacy import requests as privacy
from notifier.web.public.links import PREFERENCES, from_token, requester
from notifier.web.public.messages import field_errors
from notifier.web.public.pages import Problem, bp, page_locale, render


@bp.get("/p/<token>/privacy")
def privacy_page(token: str) -> Response:
    contact, _ = from_token(token, PREFERENCES)
    return render("public/privacy.html", contact=contact, token=token)


@bp.post("/p/<token>/privacy/<kind>")
def privacy_request(token: str, kind: str) -> Response:
    contact, _ = from_token(token, PREFERENCES)
    who = requester(contact)
    try:
        if kind == "restriction":
            made = privacy.request_restriction(contact.id, who)
        elif kind == "complaint":
            made = privacy.complain(contact.id, request.form.get("text", ""), who)
        else:
            raise Problem("bad_request", 404)
    except ValidationFailed as exc:
        errors = field_errors(exc.errors, page_locale(contact))
        return render("public/privacy.html", 422, contact=contact, token=token, errors=errors)
    return render("public/privacy_done.html", contact=contact, token=token, made=made)
