"""Personal data from public pages: a link to the address of record first, then one use of it."""

from __future__ import annotations

import json

from flask import request
from werkzeug.wrappers import Response

from notifier.domain.errors import ValidationFailed
from notifier.domain.masking import mask_email
from notifier.infra.context import profile
from notifier.privacy import verified_links
from notifier.privacy.verified_links import Action
from notifier.web.public.links import PREFERENCES, from_token, requester
from notifier.web.public.messages import field_errors
from notifier.web.public.pages import Problem, bp, page_locale, render
from notifier.web.public.preferences import FIELD_ORDER, masked_details


def _action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        raise Problem("bad_request", 404) from None


@bp.post("/p/<token>/verify/<action>")
def send_verification(token: str, action: str) -> Response:
    contact, _ = from_token(token, PREFERENCES)
    wanted = _action(action)
    verified_links.send_link(contact.id, wanted, requester(contact))
    return render(
        "public/verify_sent.html", contact=contact, to=mask_email(contact.email), token=token
    )


def _page(token: str, action: Action, status: int = 200, **context: object) -> Response:
    contact = verified_links.check(token, action)
    active = profile()
    return render(
        "public/verified.html",
        status,
        contact=contact,
        token=token,
        action=action.value,
        details=masked_details(contact),
        fields=[f for f in FIELD_ORDER if f in active.self_editable | active.verified_fields],
        verified=active.verified_fields,
        **context,
    )


@bp.get("/v/<action>/<token>")
def verified_page(action: str, token: str) -> Response:
    """A button, never an action: mail scanners open links before people do."""
    return _page(token, _action(action))


@bp.post("/v/<action>/<token>")
def verified_action(action: str, token: str) -> Response:
    wanted = _action(action)
    who = requester()
    if wanted is Action.EXPORT:
        contact_id, data = verified_links.export(token, who)
        return Response(
            json.dumps(data, ensure_ascii=False, indent=2),
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="my-data-{contact_id}.json"'},
        )
    if wanted is Action.ERASURE:
        contact, made = verified_links.request_erasure(token, who)
        return render("public/privacy_done.html", contact=contact, token=None, made=made)
    active = profile()
    allowed = active.self_editable | active.verified_fields
    # Empty boxes keep the value: the form never shows the values, so it cannot send them back.
    data = {f: request.form[f] for f in allowed if request.form.get(f, "").strip()}
    try:
        contact, change = verified_links.change_details(token, data, who)
    except ValidationFailed as exc:
        errors = field_errors(exc.errors, page_locale())
        return _page(token, wanted, 422, errors=errors, values=data)
    return render("public/verified_done.html", contact=contact, saved_profile=change)
