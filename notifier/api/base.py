"""The API blueprint, its body size limit and its error handlers (problem+json everywhere)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, request
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from notifier.api.body import max_body_bytes, max_bulk_bytes
from notifier.api.problems import ApiProblem, from_domain, response
from notifier.delivery.rendering.errors import TemplateError
from notifier.domain.errors import DomainError
from notifier.infra.extensions import limiter
from notifier.infra.rate_limits import api_client, api_limit

PREFIX = "/api/v1"
# Endpoints whose body is NDJSON read as streamed, so it may be larger than one JSON document.
BULK_ENDPOINTS = frozenset({"api.bulk_subscriptions"})
bp = Blueprint("api", __name__, url_prefix=PREFIX, template_folder="templates")
# Per key (or per address without one), shared by every web process through Redis.
limiter.limit(api_limit, key_func=api_client)(bp)


@bp.before_request
def _limit_body() -> None:
    limit = max_bulk_bytes() if request.endpoint in BULK_ENDPOINTS else max_body_bytes()
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise ApiProblem(413, f"the body is larger than {limit} bytes")


@bp.errorhandler(ApiProblem)
def _problem(exc: ApiProblem) -> Response:
    return response(exc)


@bp.errorhandler(RateLimitExceeded)
def _too_many(exc: RateLimitExceeded) -> Response:
    limit = limiter.current_limit
    retry_after = max(1, math.ceil(limit.reset_at - time.time())) if limit else 1
    problem = ApiProblem(
        429, f"more than {exc.limit.limit} for this key", headers={"Retry-After": str(retry_after)}
    )
    return response(problem)


@bp.errorhandler(DomainError)
@bp.errorhandler(TemplateError)
def _domain(exc: DomainError | TemplateError) -> Response:
    return response(from_domain(exc))


@bp.errorhandler(InternalServerError)
def _server_error(exc: InternalServerError) -> Response:
    return response(ApiProblem(500, "the server failed; the error is logged"))


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    return _http_problem(exc)


def _http_problem(exc: HTTPException) -> Response:
    problem = ApiProblem(exc.code or 500, exc.description or "")
    result = response(problem)
    if exc.code == 405 and isinstance(exc.valid_methods, list):  # type: ignore[attr-defined]
        result.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return result


RoutingErrorPage = Callable[[HTTPException], "WerkzeugResponse | HTTPException"]
_ELSEWHERE = "notifier.routing_error_page"


def _routing_error(exc: HTTPException) -> WerkzeugResponse | HTTPException:
    """Unknown paths and methods never reach a blueprint: answer in kind only under the API;
    elsewhere with the page the app gave register_routing_errors, if any."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        if exc.code == 405 and not _exists(request.path):
            # Werkzeug answers 405 for some paths no rule matches for any method (an id past
            # its converter's maximum under a PATCH-only rule): it is a 404.
            return _http_problem(NotFound())
        return _http_problem(exc)
    elsewhere: RoutingErrorPage | None = current_app.extensions.get(_ELSEWHERE)
    return exc if elsewhere is None else elsewhere(exc)


def _exists(path: str) -> bool:
    """Whether a rule matches `path` for one of the methods the 405 named."""
    adapter = current_app.url_map.bind("localhost")
    for method in getattr(request.routing_exception, "valid_methods", None) or ["GET"]:
        try:
            adapter.match(path, method=method)
        except HTTPException:
            continue
        return True
    return False


def register_routing_errors(app: Flask, elsewhere: RoutingErrorPage | None = None) -> None:
    app.extensions[_ELSEWHERE] = elsewhere
    app.register_error_handler(404, _routing_error)
    app.register_error_handler(405, _routing_error)
