"""Tracked links and the open pixel of campaign mail (docs/tracking.md): thin, one INSERT each.

The redirect goes only to the destination signed into the token at send time: a forged or
changed token gets the "link does not work" page (404), never a redirect.
"""

from __future__ import annotations

from flask import redirect, request
from werkzeug.wrappers import Response

from notifier.campaigns import engagement
from notifier.infra.clock import utcnow
from notifier.web.public.pages import bp

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
NO_STORE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


@bp.get("/t/c/<token>")
def tracked_click(token: str) -> Response:
    url = engagement.click(token, request.user_agent.string, request.remote_addr, utcnow())
    response = redirect(url, 302)
    response.headers.update(NO_STORE)
    return response


@bp.get("/t/o/<token>")
def tracked_open(token: str) -> Response:
    engagement.open_(token, request.user_agent.string, request.remote_addr, utcnow())
    response = Response(PIXEL, mimetype="image/gif")
    response.headers.update(NO_STORE)
    return response
