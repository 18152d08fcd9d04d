"""The OpenAPI document and a readable docs page rendered on the server (no scripts, no CDN),
both generated from the pydantic models (notifier/api/spec.py)."""

from __future__ import annotations

from typing import Any

from flask import Response, json, jsonify, render_template

from notifier.api.base import bp
from notifier.api.problems import ERRORS
from notifier.api.spec import spec


def document() -> dict[str, Any]:
    """The contract for the current app: its profile's purposes, its notice types."""
    return spec.document()


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())


@bp.get("/docs")
def docs() -> str:
    contract = document()
    operations = [
        (path, method.upper(), operation)
        for path, methods in contract["paths"].items()
        for method, operation in methods.items()
    ]
    return render_template(
        "api/docs.html",
        spec=contract,
        operations=operations,
        schemas=contract["components"]["schemas"],
        errors={str(code): meaning for code, meaning in sorted(ERRORS.items())},
        pretty=lambda value: json.dumps(value, indent=2, ensure_ascii=False),
    )
