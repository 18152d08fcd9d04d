"""The webhook through which a mail relay forwards raw messages sent to the unsubscribe mailbox."""

from __future__ import annotations

import hmac

from flask import current_app, jsonify, request
from werkzeug.wrappers import Response

from notifier.auth import csrf
from notifier.feedback.inbound import MAX_MESSAGE_BYTES, handle_message, recipients_from_headers
from notifier.web.public import bp


@bp.post("/inbound/email")
@csrf.exempt  # a relay is not a browser: the shared secret authenticates it
def inbound_email() -> tuple[Response, int]:
    secret = str(current_app.config.get("INBOUND_WEBHOOK_SECRET") or "")
    if not secret:
        return jsonify(error="inbound webhook is not configured"), 404
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return jsonify(error="wrong or missing shared secret"), 401
    if (request.content_length or 0) > MAX_MESSAGE_BYTES:
        return jsonify(error=f"message larger than {MAX_MESSAGE_BYTES} bytes"), 413
    raw = request.get_data(cache=False)
    if not raw.strip():
        return jsonify(error="empty body: send the raw RFC 5322 message"), 400
    rcpts = request.args.getlist("rcpt") or recipients_from_headers(raw)
    outcome = handle_message(raw, rcpts, channel="webhook")
    if outcome.rejected:
        return jsonify(error=f"malformed report: {outcome.rejected}"), 422
    return jsonify(refused=outcome.refused, ignored=outcome.ignored, feedback=outcome.feedback), 200
