"""Provider event webhooks: /providers/ses, /providers/sendgrid, /providers/mailgun."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from notifier.domain.errors import NotFound
from notifier.feedback import provider_events
from notifier.infra.clock import utcnow
from notifier.infra.extensions import csrf

bp = Blueprint("providers", __name__, url_prefix="/providers")
MAX_BODY = 1_048_576
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


@bp.post("/ses")
@csrf.exempt  # providers authenticate by signature, not by cookie
def ses() -> tuple[Response, int]:
    return _handle(lambda body: provider_events.ses(body, utcnow()))


@bp.post("/sendgrid")
@csrf.exempt
def sendgrid() -> tuple[Response, int]:
    signature = request.headers.get(SENDGRID_SIGNATURE, "")
    timestamp = request.headers.get(SENDGRID_TIMESTAMP, "")
    return _handle(lambda body: provider_events.sendgrid(body, signature, timestamp, utcnow()))


@bp.post("/mailgun")
@csrf.exempt
def mailgun() -> tuple[Response, int]:
    return _handle(lambda body: provider_events.mailgun(body, utcnow()))


def _handle(apply: Callable[[bytes], dict[str, int]]) -> tuple[Response, int]:
    if (request.content_length or 0) > MAX_BODY:
        return jsonify(error=f"body larger than {MAX_BODY} bytes"), 413
    body = request.get_data(cache=False)
    try:
        counts = apply(body)
    except NotFound as exc:
        return jsonify(error=str(exc)), 404
    except provider_events.Forged as exc:
        return jsonify(error=f"signature: {exc}"), 403
    except provider_events.Malformed as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(counts), 200
