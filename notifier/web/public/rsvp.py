"""RSVP links of event campaigns: GET shows the event and a button, POST registers (once) or
cancels. A GET never records anything: mail scanners fetch every URL in a message."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from flask import request
from werkzeug.wrappers import Response

from notifier.campaigns import rsvps
from notifier.infra.clock import utcnow
from notifier.web.public.messages import PROBLEMS
from notifier.web.public.pages import Problem, bp, render


def _page(found: rsvps.Invitation, token: str, outcome: str | None = None) -> Response:
    return render(
        "public/rsvp.html",
        contact=found.contact,
        event=found.event,
        starts_at=found.starts_at,
        ends_at=_moment(found.event.get("ends_at")),
        registered=found.registered,
        outcome=outcome,
        token=token,
    )


def _moment(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@bp.get("/e/<token>")
def rsvp_page(token: str) -> Response:
    return _page(rsvps.invitation(token, utcnow()), token)


@bp.post("/e/<token>")
def rsvp(token: str) -> Response:
    action = request.form.get("action")
    if action == "cancel":
        found, done = rsvps.cancel(token, utcnow())
        outcome = "cancelled" if done else "not_registered"
    elif action == "register":
        found, made = rsvps.register(token, utcnow())
        outcome = "registered" if made else "already"
    else:
        raise Problem("bad_request", 400)
    return _page(dataclasses.replace(found, registered=action == "register"), token, outcome)


@bp.errorhandler(rsvps.EventStarted)
def _started(exc: rsvps.EventStarted) -> Response:
    return render("public/problem.html", 410, problem=PROBLEMS["event_started"])
