"""The webhook through which a mail relay forwards raw messages sent to the unsubscribe mailbox."""

from __future__ import annotations

import hmac

from flask import current_app, jsonify, request
from werkzeug.wrappers import Response

from notifier.feedback.inbound import (
    MAX_MESSAGE_BYTES,
    handle_message,
    recipients_from_headers,
    resolver_for,
)
from notifier.feedback.sender_auth import Connection
from notifier.infra.context import settings
from notifier.infra.extensions import csrf
from notifier.web.public.pages import bp


@bp.post("/inbound/email")
@csrf.exempt  # a relay is not a browser: the shared secret authenticates it
def inbound_email() -> tuple[Response, int]:
    secret = settings().INBOUND_WEBHOOK_SECRET
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
    # The relay, authenticated by the secret, may tell what its SMTP server saw, for SPF.
    client_ip = request.args.get("client_ip", "")
    connection = None
    if client_ip:
        connection = Connection(
            client_ip, request.args.get("helo", ""), request.args.get("mail_from", "")
        )
    outcome = handle_message(
        raw,
        rcpts,
        channel="webhook",
        resolver=resolver_for(current_app),
        connection=connection,
    )
    if outcome.rejected:
        return jsonify(error=f"malformed report: {outcome.rejected}"), 422
    return jsonify(
        refused=outcome.refused,
        pending=outcome.pending,
        ignored=outcome.ignored,
        feedback=outcome.feedback,
    ), 200
