"""The JSON API under /api/v1: bearer API keys with scopes, problem+json, an OpenAPI contract."""

from __future__ import annotations

from flask import Flask

from notifier.api.base import RoutingErrorPage, bp, register_routing_errors


def init_app(app: Flask, elsewhere: RoutingErrorPage | None = None) -> None:
    """The API under its prefix; `elsewhere` answers an unknown path outside it."""
    # The views register their routes on bp when imported.
    from notifier.api import (  # noqa: F401
        campaigns,
        contacts,
        docs,
        lists,
        notices,
        subscriptions,
        webhooks,
    )
    from notifier.infra.extensions import csrf

    csrf.exempt(bp)  # bearer keys, never cookies: no CSRF to defend against
    app.register_blueprint(bp)
    register_routing_errors(app, elsewhere)
