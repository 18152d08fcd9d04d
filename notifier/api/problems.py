"""RFC 9457 problem details: every API error has the same shape and names every bad field."""

from __future__ import annotations

from typing import Any

from flask import Response, json

from notifier.delivery.rendering.errors import Part, TemplateError
from notifier.domain.errors import (
    Conflict,
    DomainError,
    MissingEvidence,
    NotFound,
    UnknownPurpose,
    ValidationFailed,
)

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
}
# The template part a TemplateError names, as the request field that holds it.
PART_FIELDS = {Part.SUBJECT: "subject", Part.BODY: "body_mjml", Part.TEXT: "text"}


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        detail: str = "",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or TITLES.get(status, ""))
        self.status, self.detail = status, detail
        self.errors = errors or []
        self.headers = headers or {}


def field_errors(errors: dict[str, str]) -> list[dict[str, Any]]:
    return [{"field": field, "detail": detail} for field, detail in sorted(errors.items())]


def invalid(errors: dict[str, str]) -> ApiProblem:
    count = len(errors)
    return ApiProblem(
        422, f"{count} field{'s' if count != 1 else ''} failed validation", field_errors(errors)
    )


def from_domain(exc: DomainError | TemplateError) -> ApiProblem:
    """Named service errors to status codes: the Mailman REST mapping, in one place."""
    if isinstance(exc, TemplateError):
        field = PART_FIELDS.get(exc.part, str(exc.part))
        if exc.locale != "vi":  # a variant's part, as its request field
            field = f"variants.{exc.locale}.{field}"
        return ApiProblem(
            422, str(exc), [{"field": field, "line": exc.line, "detail": exc.problem}]
        )
    if isinstance(exc, ValidationFailed):
        return invalid(exc.errors)
    if isinstance(exc, UnknownPurpose):
        return invalid({"purpose": f"unknown purpose {exc}"})
    if isinstance(exc, MissingEvidence):
        return invalid({"evidence": str(exc)})
    if isinstance(exc, NotFound):
        return ApiProblem(404, f"{exc} not found")
    if isinstance(exc, Conflict):
        return ApiProblem(409, str(exc))
    return ApiProblem(422, str(exc))


def response(problem: ApiProblem) -> Response:
    body: dict[str, Any] = {
        "type": f"/api/v1/docs#problem-{problem.status}",
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail or TITLES.get(problem.status, "Error"),
    }
    if problem.errors:
        body["errors"] = problem.errors
    result = Response(json.dumps(body), status=problem.status, mimetype=MEDIA_TYPE)
    result.headers.update(problem.headers)
    return result
