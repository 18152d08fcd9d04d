"""Outgoing webhook endpoints and their delivery log, for keys with the `webhooks` scope."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from flask import Response, g, jsonify, request

from notifier.api.base import bp
from notifier.api.fields import MAX_ID
from notifier.api.schemas import (
    WebhookDelivery,
    WebhookDeliveryList,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointRequest,
    WebhookEndpointUpdate,
    WebhookSecret,
)
from notifier.api.spec import body, operation
from notifier.operations import webhook_endpoints as endpoints
from notifier.operations.webhook_endpoints import DeliveryView, EndpointView

ENDPOINT = f"/webhook-endpoints/<int(min=1, max={MAX_ID}):endpoint_id>"


def _actor() -> str:
    return f"api_key:{g.api_key_id}"


def _json(view: EndpointView | DeliveryView) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(view).items()}


@bp.get("/webhook-endpoints")
@operation("webhooks", {200: (WebhookEndpointList, "Every endpoint.")})
def list_webhook_endpoints() -> Response:
    """Webhook endpoints (never their secrets)"""
    return jsonify({"items": [_json(e) for e in endpoints.endpoints()]})


@bp.post("/webhook-endpoints")
@operation(
    "webhooks",
    {201: (WebhookEndpointCreated, "Created; the secret is in this answer only.")},
    json=WebhookEndpointRequest,
)
def create_webhook_endpoint() -> tuple[Response, int]:
    """Add an endpoint: a URL, the events it receives; answers its signing secret once"""
    new = body(WebhookEndpointRequest)
    view, secret = endpoints.create(
        new.url, list(new.events), new.description or "", _actor(), request.remote_addr
    )
    return jsonify({**_json(view), "secret": secret}), 201


@bp.get(ENDPOINT)
@operation("webhooks", {200: (WebhookEndpoint, "The endpoint.")})
def get_webhook_endpoint(endpoint_id: int) -> Response:
    """An endpoint"""
    return jsonify(_json(endpoints.endpoint(endpoint_id)))


@bp.patch(ENDPOINT)
@operation("webhooks", {200: (WebhookEndpoint, "Changed.")}, json=WebhookEndpointUpdate)
def update_webhook_endpoint(endpoint_id: int) -> Response:
    """Change an endpoint's URL, events, description, or enable or disable it"""
    change = body(WebhookEndpointUpdate)
    view = endpoints.update(
        endpoint_id,
        _actor(),
        url=change.url,
        events=list(change.events) if change.events is not None else None,
        description=change.description,
        enabled=change.enabled,
        ip=request.remote_addr,
    )
    return jsonify(_json(view))


@bp.post(f"{ENDPOINT}/rotate-secret")
@operation("webhooks", {200: (WebhookSecret, "The new secret, shown this once.")})
def rotate_webhook_secret(endpoint_id: int) -> Response:
    """Replace an endpoint's signing secret; deliveries from now on use the new one"""
    return jsonify({"secret": endpoints.rotate_secret(endpoint_id, _actor(), request.remote_addr)})


@bp.get(f"{ENDPOINT}/deliveries")
@operation("webhooks", {200: (WebhookDeliveryList, "The latest 100 deliveries, newest first.")})
def webhook_deliveries(endpoint_id: int) -> Response:
    """An endpoint's delivery log: status, attempts, last answer, next attempt"""
    return jsonify({"items": [_json(d) for d in endpoints.deliveries(endpoint_id)]})


@bp.post(f"/webhook-deliveries/<int(min=1, max={MAX_ID}):delivery_id>/redeliver")
@operation("webhooks", {200: (WebhookDelivery, "Queued again, with the same event id.")})
def redeliver_webhook(delivery_id: int) -> Response:
    """Send a delivery's event again now (same event id)"""
    return jsonify(_json(endpoints.redeliver(delivery_id, _actor(), request.remote_addr)))
