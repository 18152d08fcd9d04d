"""The web view of a campaign message (`{{ links.web_view }}`, "view in your browser"): GET only,
it records nothing (mail scanners fetch every URL in a message)."""

from __future__ import annotations

from werkzeug.wrappers import Response

from notifier.campaigns import web_view
from notifier.web.public.messages import PROBLEMS
from notifier.web.public.pages import bp, render

# The message's own HTML: its inline styles and remote images, never a script, a form or a
# frame. Search engines must not index a person's mail, nor the Referer carry its token away;
# only the reader's own browser may keep a copy.
MESSAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": MESSAGE_POLICY,
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=3600",
}


@bp.get("/m/<token>")
def web_view_page(token: str) -> Response:
    message = web_view.message_page(token)
    response = Response(message.html, mimetype="text/html")
    response.headers.update(HEADERS)
    return response


@bp.errorhandler(web_view.ContactErased)
def _erased(exc: web_view.ContactErased) -> Response:
    return render("public/problem.html", 410, problem=PROBLEMS["message_gone"])
