"""Pages a contact uses without an account: unsubscribe, preferences, sign-up, privacy requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request, session
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from notifier.delivery.system_mail import local_time
from notifier.domain.errors import Conflict, NotFound
from notifier.domain.profile import LOCALES
from notifier.infra.context import profile
from notifier.models import Contact
from notifier.web.public.messages import PROBLEMS

bp = Blueprint("public", __name__)


class Problem(Exception):
    """A friendly page with a status code: bad links, used links, too many attempts."""

    def __init__(self, key: str, status: int) -> None:
        super().__init__(key)
        self.key, self.status = key, status


def page_locale(contact: Contact | None = None) -> str:
    """?lang= (remembered), else the contact's language, else the company's default."""
    chosen = request.args.get("lang")
    if chosen in LOCALES:
        session["lang"] = chosen
        return str(chosen)
    if session.get("lang") in LOCALES:
        return str(session["lang"])
    if contact is not None and contact.locale in LOCALES:
        return contact.locale
    return profile().default_locale


def render(template: str, status: int = 200, **context: Any) -> Response:
    contact = context.get("contact")
    locale = page_locale(contact)
    zone = getattr(contact, "time_zone", None) or profile().default_time_zone

    def when(moment: datetime) -> str:
        return local_time(moment.isoformat(), zone, locale)

    html = render_template(
        template,
        locale=locale,
        t=lambda vi, en: en if locale == "en" else vi,
        when=when,
        profile=profile(),
        identity=profile().identity,
        **context,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.errorhandler(Problem)
def _problem(exc: Problem) -> Response:
    return render("public/problem.html", exc.status, problem=PROBLEMS[exc.key])


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return render("public/problem.html", 404, problem=PROBLEMS["bad_link"])


@bp.errorhandler(Conflict)
def _conflict(exc: Conflict) -> Response:
    return render("public/problem.html", 409, problem=PROBLEMS["conflict"])


@bp.errorhandler(CSRFError)
def _csrf(exc: CSRFError) -> Response:
    return render("public/problem.html", 400, problem=PROBLEMS["expired_form"])


from notifier.web.public import inbound, preferences, privacy, signup, unsubscribe  # noqa: E402,F401
