"""Pages a contact uses without an account: unsubscribe, preferences, sign-up, privacy requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import force_locale
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from notifier.delivery.system_mail import local_time
from notifier.domain.errors import Conflict, NotFound
from notifier.i18n import languages, page_locale
from notifier.infra.context import profile
from notifier.infra.extensions import limiter
from notifier.infra.rate_limits import public_limit
from notifier.infra.translations import texts
from notifier.privacy.verified_links import LinkExpired, LinkUsed
from notifier.web.public.messages import PROBLEMS

bp = Blueprint("public", __name__)


# Never limited: the signed token in their URL already limits what a request can do.
UNLIMITED = frozenset({"public.tracked_click", "public.tracked_open"})


def _unlimited() -> bool:
    """A refusal must never wait: Gmail and Yahoo send every one-click POST from a few addresses.
    Nor may a tracked link or the pixel (docs/tracking.md): a whole office behind one address,
    a mail scanner and Apple's proxy each open many people's links, and a 429 would strand the
    person instead of sending them on. A forged token costs an HMAC and no query."""
    if request.endpoint in UNLIMITED:
        return True
    return request.method == "POST" and request.endpoint == "public.unsubscribe"


# Per client address, shared by every web process.
limiter.limit(public_limit, exempt_when=_unlimited)(bp)

# Tokens sit in these URLs and the pages name a person: nothing may frame, cache, leak the
# address to another site through Referer, or run a script that is not ours.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


class Problem(Exception):
    """A friendly page with a status code: bad links, used links, too many attempts."""

    def __init__(self, key: str, status: int) -> None:
        super().__init__(key)
        self.key, self.status = key, status


def render(template: str, status: int = 200, **context: Any) -> Response:
    contact = context.get("contact")
    locale = page_locale(contact)
    zone = getattr(contact, "time_zone", None) or profile().default_time_zone

    def when(moment: datetime) -> str:
        return local_time(moment.isoformat(), zone, locale)

    # Flask-Babel's own gettext and formats follow the page's language, the contact's included.
    with force_locale(locale):
        html = render_template(
            template,
            locale=locale,
            languages=languages(),
            **texts(locale),
            when=when,
            profile=profile(),
            identity=profile().identity,
            **context,
        )
    return Response(html, status=status, mimetype="text/html")


@bp.after_request
def _headers(response: Response) -> Response:
    # A page with its own rules (the web view's policy and caching) keeps them.
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@bp.errorhandler(Problem)
def _problem(exc: Problem) -> Response:
    return render("public/problem.html", exc.status, problem=PROBLEMS[exc.key])


@bp.errorhandler(RateLimitExceeded)
def _too_many(exc: RateLimitExceeded) -> Response:
    return render("public/problem.html", 429, problem=PROBLEMS["too_many"])


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return render("public/problem.html", 404, problem=PROBLEMS["bad_link"])


def unknown_address(exc: HTTPException) -> Response | HTTPException:
    """A path no page has (outside the API, which answers in JSON): the page a bad link gets,
    in the visitor's language. Another routing error (405) keeps Werkzeug's answer."""
    if exc.code != 404:
        return exc
    return render("public/problem.html", 404, problem=PROBLEMS["bad_link"])


@bp.errorhandler(Conflict)
def _conflict(exc: Conflict) -> Response:
    return render("public/problem.html", 409, problem=PROBLEMS["conflict"])


@bp.errorhandler(LinkUsed)
@bp.errorhandler(LinkExpired)
def _link_gone(exc: LinkUsed | LinkExpired) -> Response:
    key = "used_link" if isinstance(exc, LinkUsed) else "expired_link"
    return render("public/problem.html", 410, problem=PROBLEMS[key])


@bp.errorhandler(CSRFError)
def _csrf(exc: CSRFError) -> Response:
    return render("public/problem.html", 400, problem=PROBLEMS["expired_form"])
