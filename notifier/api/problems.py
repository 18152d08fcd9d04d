"""RFC 9457 problem details: every API error has the same shape and names every bad field."""

from __future__ import annotations

from typing import Any

from flask import Response, json
from pydantic import ValidationError

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
# What each error status means, for the document and its readable page.
ERRORS = {
    400: "The body is not JSON.",
    401: "A missing, wrong or revoked API key (the answer does not say which).",
    403: "The key lacks the scope this operation needs.",
    404: "No such resource.",
    409: "Conflicts with the current state: an Idempotency-Key reused with another body, a "
    "state change that is not allowed, an address that belongs to another contact.",
    413: "The body is larger than the limit (256 KiB by default).",
    415: "The body is not application/json.",
    422: "Fields failed validation: `errors` names each one.",
    429: "Too many requests for this key: wait the seconds in Retry-After.",
}
# pydantic's words where ours are clearer; any other error keeps pydantic's message.
MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "string_pattern_mismatch": "contains control characters or characters not allowed here",
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


def validation_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic's errors as {field path: detail}, the first error of each field."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        path = field_path(part for part in error["loc"] if part != "[key]")
        errors.setdefault(path or "body", MESSAGES.get(error["type"], error["msg"]))
    return errors


def field_path(parts: Any) -> str:
    """("consents", 0, "evidence") as consents[0].evidence."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


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
