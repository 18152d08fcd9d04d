"""The OpenAPI document and a readable docs page rendered on the server (no scripts, no CDN)."""

from __future__ import annotations

from flask import Response, json, jsonify, render_template

from notifier.api.base import bp
from notifier.api.openapi import ERRORS, document


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())


@bp.get("/docs")
def docs() -> str:
    spec = document()
    operations = [
        (path, method.upper(), operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]
    return render_template(
        "api/docs.html",
        spec=spec,
        operations=operations,
        schemas=spec["components"]["schemas"],
        errors=dict(sorted(ERRORS.items())),
        pretty=lambda value: json.dumps(value, indent=2, ensure_ascii=False),
    )
