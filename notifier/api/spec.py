"""SpecTree binds the pydantic models of notifier/api/schemas.py to the views: it validates each
request with them and builds the OpenAPI document from them and the URL rules.

Three things are ours: the body is read by notifier/api/body.py (400, 413, 415 and hostile
strings keep their answers) and every bad field goes into one problem+json answer; the document
is regenerated when the values it enumerates change (the profile's purposes, the notice types
and their templates); and each operation's scope, error answers and state checks are added here,
from the `operation` decorator that also guards the view.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import make_response, request
from pydantic import BaseModel, ValidationError
from spectree import Response, SpecTree
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin

from notifier.api.auth import require
from notifier.api.body import hostile_strings, read_body
from notifier.api.fields import EXTERNAL_REF, KEY
from notifier.api.problems import ERRORS, invalid, validation_errors
from notifier.api.schemas import Problem
from notifier.domain.subscriptions import EXTERNAL_ID
from notifier.infra.context import profile
from notifier.notices.views import active_data_fields

PREFIX = "/api/v1"
F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PATH_PARAMETERS = {
    "external_ref": {"type": "string", "pattern": EXTERNAL_REF},
    "external_id": {"type": "string", "pattern": EXTERNAL_ID},
    "key": {"type": "string", "pattern": KEY},
}
DESCRIPTION = (
    "Renewal notices, contacts with consent evidence, templates and campaigns. Authenticate "
    "with `Authorization: Bearer <key>`; each key has scopes (notices, contacts, campaigns, "
    "templates). Errors are RFC 9457 problem details. Every enum, format and limit here is the "
    "one the server applies: both come from the same pydantic models."
)


class _Plugin(FlaskPlugin):
    def request_validation(
        self, request: Any, query: Any, json: Any, form: Any, headers: Any, cookies: Any
    ) -> None:
        """Every bad field of the body, the query string and the headers in one 422."""
        errors: dict[str, str] = {}
        body_value = header_value = query_value = None
        if json is not None:
            raw = read_body(optional=not _requires_body(json))
            errors.update(hostile_strings(raw))
            if not errors:
                body_value, problems = _validated(json, raw)
                errors.update(problems)
        if query is not None:
            # One value per name: a repeated parameter is refused, not silently narrowed.
            given = {}
            for name, values in request.args.lists():
                if len(values) > 1:
                    errors[name] = "give this parameter once"
                given[name] = values[0]
            query_value, problems = _validated(query, given)
            errors.update(problems)
        if headers is not None:
            names = [f.alias or name for name, f in headers.model_fields.items()]
            given = {n: request.headers[n] for n in names if n in request.headers}
            header_value, problems = _validated(headers, given)
            errors.update(problems)
        if errors:
            raise invalid(errors)
        request.context = Context(query_value, body_value, None, header_value, None)

    def validate_response(
        self, resp: Any, resp_model: Any, skip_validation: bool, force_resp_serialize: bool
    ) -> tuple[Any, None]:
        # Answers are not re-validated per request: the tests hold each one to the document.
        return make_response(resp), None


def _requires_body(model: type[BaseModel]) -> bool:
    return any(f.is_required() for f in model.model_fields.values())


def _validated(model: type[BaseModel], value: Any) -> tuple[Any, dict[str, str]]:
    try:
        return model.model_validate(value), {}
    except ValidationError as exc:
        return None, validation_errors(exc)


@dataclass(frozen=True)
class Extras:
    scope: str
    errors: tuple[int, ...] = ()
    body_optional: bool = False
    # Fields the server checks against stored state or template content, which no schema can
    # state (a template id that exists, MJML that compiles, consent newer than a withdrawal).
    state_checked: tuple[str, ...] = ()
    # A body no JSON schema of SpecTree's can carry (NDJSON): media type, row model, most rows.
    raw_body: tuple[str, type[BaseModel], Callable[[], int]] | None = None


class LiveSpecTree(SpecTree):
    """A SpecTree whose document follows the running instance: regenerated when what it
    enumerates changes, under a lock (generation rewrites the shared component table)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.registered: dict[str, tuple[Any, Any]] = {}
        self.extras: dict[str, Extras] = {}
        self.cache: dict[Any, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def _add_model(self, model: Any, mode: Any = "validation") -> str:
        # Only the document reads a model's JSON schema, and document() builds them all, so
        # none is built when a view is decorated: every CLI command and worker starts without
        # turning 100 models into schemas it never shows (0.4 s of each start).
        key = str(self.naming_strategy(model))
        self.registered[key] = (model, mode)
        return key

    def document(self) -> dict[str, Any]:
        limits = tuple(e.raw_body[2]() for e in self.extras.values() if e.raw_body is not None)
        version = (id(profile()), tuple(sorted(active_data_fields().items())), limits)
        with self.lock:
            if version not in self.cache:
                for model, mode in list(self.registered.values()):
                    super()._add_model(model, mode)
                self.cache.clear()  # one version at a time: the newest
                self.cache[version] = _finish(self._generate_spec(), self.extras)
            return self.cache[version]


spec = LiveSpecTree(
    "flask",
    backend=_Plugin,
    mode="strict",
    annotations=False,
    title="notifier API",
    version="1.0.0",
    description=DESCRIPTION,
    page_templates={},
    validation_error_model=Problem,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
)


def operation(
    scope: str,
    answers: dict[int, tuple[type[BaseModel], str]],
    json: type[BaseModel] | None = None,
    headers: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    state_checked: tuple[str, ...] = (),
    raw_body: tuple[str, type[BaseModel], Callable[[], int]] | None = None,
) -> Callable[[F], F]:
    """Guard a view with its key scope and its models; the document learns both from here.

    `raw_body` (media type, row model, most rows as read from the settings) is a body the view
    reads itself, as streamed: the document states it as an array of rows in that media type,
    one row a line."""
    body_optional = json is not None and not _requires_body(json)

    def decorate(view: F) -> F:
        spec.extras[view.__name__] = Extras(scope, errors, body_optional, state_checked, raw_body)
        if raw_body is not None:
            spec._add_model(raw_body[1])
        validated = spec.validate(
            json=json,
            headers=headers,
            query=query,
            resp=Response(**{f"HTTP_{code}": answer for code, answer in answers.items()}),
            tags=[scope],
            operation_id=view.__name__,
        )(view)
        return require(scope)(validated)

    return decorate


def body(model: type[M]) -> M:
    """The request body, as validated against `model` by the view's `operation`."""
    value = getattr(request, "context").json  # noqa: B009 - set by the plugin, not typed
    return cast(M, value if value is not None else model.model_validate({}))


def query(model: type[M]) -> M:
    """The query string, as validated against `model` by the view's `operation`."""
    return cast(M, getattr(request, "context").query)  # noqa: B009


def header(model: type[M]) -> M:
    return cast(M, getattr(request, "context").headers)  # noqa: B009


def _finish(document: dict[str, Any], extras: dict[str, Extras]) -> dict[str, Any]:
    """Paths relative to the server URL, with each operation's scope and problem answers."""
    paths = {}
    for path, methods in document["paths"].items():
        for operation in methods.values():
            _complete(operation, extras[operation["operationId"]])
        paths[path.removeprefix(PREFIX) or "/"] = methods
    document["paths"] = paths
    document["servers"] = [{"url": PREFIX}]
    document["security"] = [{"apiKey": []}]
    document["jsonSchemaDialect"] = "https://json-schema.org/draft/2020-12/schema"
    document["components"]["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
    document.pop("tags", None)
    return document


def _ref(model: type[BaseModel]) -> str:
    return f"#/components/schemas/{model.__name__}"


def _complete(operation: dict[str, Any], extra: Extras) -> None:
    codes = [401, 403, 429, *extra.errors]
    if extra.raw_body is not None:
        media_type, row, most = extra.raw_body
        rows = {"type": "array", "maxItems": most(), "items": {"$ref": _ref(row)}}
        operation["requestBody"] = {"content": {media_type: {"schema": rows}}}
    if "requestBody" in operation:
        codes += [400, 413, 415, 422]
        operation["requestBody"]["required"] = not extra.body_optional
    parameters = operation.get("parameters", [])
    for parameter in parameters:
        if parameter["in"] == "query":
            codes.append(422)  # a bad parameter is named like a bad body field
        if parameter["in"] == "path":
            codes.append(404)
            parameter["schema"] = dict(PATH_PARAMETERS.get(parameter["name"], parameter["schema"]))
            parameter["schema"].pop("format", None)  # int32 is narrower than the rule
        if not parameter.get("description"):
            parameter.pop("description", None)
    if not parameters:
        operation.pop("parameters", None)
    # SpecTree documents a JSON 422 everywhere; ours are problem+json, and only where they occur.
    for code in [c for c in operation["responses"] if c.startswith("4")]:
        del operation["responses"][code]
    for code in sorted(set(codes)):
        operation["responses"][str(code)] = {"description": ERRORS[code], "content": PROBLEM}
    operation["security"] = [{"apiKey": []}]
    operation["x-scope"] = extra.scope
    operation.pop("tags", None)
    if not operation.get("description"):
        operation.pop("description", None)
    if extra.state_checked:
        operation["x-state-checked"] = list(extra.state_checked)
        operation["description"] = (
            operation.get("description", "")
            + " Besides the schema, the server checks "
            + ", ".join(f"`{name}`" for name in extra.state_checked)
            + " against stored state or template content: 422 names the field."
        ).strip()
