"""Tracked links and the open pixel of campaign mail (docs/tracking.md): one INSERT each.

The redirect goes only to the destination signed into the token at send time: a forged or
changed token gets the "link does not work" page (404), never a redirect.

A GET with a genuine token is answered by `Endpoints`, in front of Flask: a redirect or a pixel
needs none of what Flask does for a page (session, rate limit, language, template), and that
per-request work was half of the CPU the redirect benchmark measured. Everything else (a token
that is not genuine, another method) goes on to the views below, which answer the same way and
render the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app, request
from werkzeug.urls import iri_to_uri
from werkzeug.wrappers import Response

from notifier.campaigns.tracking_events import Recorder
from notifier.domain.errors import NotFound
from notifier.infra.clock import utcnow
from notifier.infra.extensions import db
from notifier.infra.settings import settings_of
from notifier.web.public.pages import HEADERS, bp

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
NO_STORE = {
    **HEADERS,
    "Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
_KEY = "notifier.tracking"
CLICK_PATH, OPEN_PATH = "/t/c/", "/t/o/"


def init_tracking(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    app.extensions[_KEY] = Recorder(engine, lambda: settings_of(app))
    app.wsgi_app = Endpoints(app.extensions[_KEY], app.wsgi_app)  # type: ignore[method-assign]


def _recorder() -> Recorder:
    recorder: Recorder = current_app.extensions[_KEY]
    return recorder


def _redirect(url: str) -> list[tuple[str, str]]:
    return [("Location", iri_to_uri(url)), ("Content-Length", "0"), *NO_STORE.items()]


def _pixel() -> list[tuple[str, str]]:
    return [("Content-Type", "image/gif"), ("Content-Length", str(len(PIXEL))), *NO_STORE.items()]


StartResponse = Callable[..., Any]


class Endpoints:
    """GET /t/c/<token> and /t/o/<token> with a genuine token, before Flask: the token, the
    INSERT, the answer, nothing else. The rest goes on to the app."""

    def __init__(self, recorder: Recorder, app: Callable[..., Iterable[bytes]]) -> None:
        self.recorder, self.app = recorder, app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        token = path[len(CLICK_PATH) :]
        if environ.get("REQUEST_METHOD") == "GET" and token and "/" not in token:
            agent, address = environ.get("HTTP_USER_AGENT"), environ.get("REMOTE_ADDR")
            if path.startswith(CLICK_PATH):
                url = self.recorder.click(token, agent, address, utcnow())
                if url is not None:
                    start_response("302 Found", _redirect(url))
                    return [b""]
            elif path.startswith(OPEN_PATH):
                self.recorder.open_(token, agent, address, utcnow())
                start_response("200 OK", _pixel())
                return [PIXEL]
        return self.app(environ, start_response)


@bp.get("/t/c/<token>")
def tracked_click(token: str) -> Response:
    url = _recorder().click(token, request.user_agent.string, request.remote_addr, utcnow())
    if url is None:
        raise NotFound("tracking link")
    return Response(status=302, headers=_redirect(url))


@bp.get("/t/o/<token>")
def tracked_open(token: str) -> Response:
    _recorder().open_(token, request.user_agent.string, request.remote_addr, utcnow())
    return Response(PIXEL, headers=_pixel())
