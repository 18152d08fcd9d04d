"""Delivery: one attempt of one event to one endpoint, signed; retries with backoff; the log.

Exactly once from the receiver's side rests on the event id: every attempt of a delivery row
sends the same body with the same id, so a receiver that remembers ids acts once. An attempt is
claimed first (committed, with a lease), so two workers never send the same row at once; a worker
killed mid-request leaves the claim to run out, and the scheduler then hands the row out again:
a redelivery with the same id, never a new event."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from notifier.domain import webhooks as rules
from notifier.domain.webhooks import EndpointRefused, Target
from notifier.infra.context import settings
from notifier.infra.extensions import db
from notifier.infra.queues import enqueue_after_commit
from notifier.infra.unit_of_work import checkpoint
from notifier.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookStatus, utcnow
from notifier.webhooks.outbox import DELIVER_JOB, QUEUE

log = logging.getLogger(__name__)
USER_AGENT = "notifier-webhooks/2"
# What we read of an answer (the log keeps less): a receiver answering gigabytes costs us this.
READ_LIMIT = 64 * 1024
KEPT = 500
RETRY_BATCH = 500
FRESH = timedelta(seconds=10)


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    response: str
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def body_of(event: WebhookEvent) -> bytes:
    """The same bytes on every attempt: id, type, created_at and data, keys sorted."""
    created = event.created_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    document = {"id": event.id, "type": event.type, "created_at": created, "data": event.data}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def resolve(target: Target) -> list[str]:
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def checked_addresses(url: str) -> tuple[Target, list[str]]:
    """The URL's target and the addresses it may be reached at now, or EndpointRefused. Checked
    when an endpoint is saved and again before every attempt (a name may change its address)."""
    target = rules.parse_url(url)
    addresses = resolve(target)
    rules.check_addresses(target, addresses, settings().WEBHOOK_ALLOWED_NETWORKS)
    return target, addresses


def lease() -> timedelta:
    # Longer than one attempt can take (the timeout closes it), so a live worker's claim holds.
    return timedelta(seconds=settings().WEBHOOK_TIMEOUT_SECONDS + 5)


def deliver(delivery_id: int) -> str:
    """One attempt of a delivery row, if it is due and nobody holds it; returns its status."""
    now = utcnow()
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return "missing"
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    event = db.session.get(WebhookEvent, delivery.event_id)
    assert endpoint is not None and event is not None  # foreign keys
    if delivery.status != WebhookStatus.PENDING or not endpoint.enabled:
        return str(delivery.status)
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == WebhookStatus.PENDING,
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
            or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        )
        .values(
            claimed_until=now + lease(),
            attempts=WebhookDelivery.attempts + 1,
            last_attempt_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return "busy"
    url, secret, body = endpoint.url, endpoint.secret, body_of(event)
    event_id = event.id
    # The claim commits before the request goes out, so another worker sees it at once, and no
    # transaction stays open while a receiver takes its time.
    checkpoint()
    attempt = post(url, secret, body, event_id)
    return record(delivery_id, attempt)


def post(url: str, secret: str, body: bytes, event_id: str) -> Attempt:
    try:
        target, addresses = checked_addresses(url)
    except EndpointRefused as exc:
        return Attempt(None, "", f"refused: {exc.errors['url']}")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        rules.EVENT_ID_HEADER: event_id,
        rules.SIGNATURE_HEADER: rules.signature(secret, int(time.time()), body),
    }
    timeout = settings().WEBHOOK_TIMEOUT_SECONDS
    connection = _connection(target, addresses[0], timeout)
    # The socket timeout bounds each read, not the whole: a receiver dribbling one byte at a time
    # would hold the worker for ever. The timer cuts the connection when the attempt's time is up.
    expired = threading.Event()
    watchdog = threading.Timer(timeout, _cut, (connection, expired))
    watchdog.start()
    timed_out = Attempt(None, "", f"timed out after {timeout:g} s")
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read(READ_LIMIT)
        # A cut connection can read as the end of an answer that had no length: not an answer.
        return timed_out if expired.is_set() else Attempt(answer.status, _printable(text), "")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if isinstance(exc, TimeoutError) or expired.is_set():
            return timed_out
        return Attempt(None, "", f"{type(exc).__name__}: {exc}"[:KEPT])
    finally:
        watchdog.cancel()
        connection.close()


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, not to whatever the name resolves to next."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address
        self.wire: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.wire = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address
        self.wire: socket.socket | None = None

    def connect(self) -> None:
        self.wire = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(self.wire, server_hostname=self.host)  # type: ignore[attr-defined]


def _connection(target: Target, address: str, timeout: float) -> _PinnedHTTP | _PinnedHTTPS:
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    return kind(address, target.host, target.port, timeout)


def _cut(connection: _PinnedHTTP | _PinnedHTTPS, expired: threading.Event) -> None:
    # The socket itself, not connection.sock: http.client hands it to the response and forgets
    # it once the answer is to end with the connection.
    expired.set()
    sock = connection.wire
    if sock is not None:
        with contextlib.suppress(OSError):  # wakes a blocked read at once, unlike close()
            sock.shutdown(socket.SHUT_RDWR)


def _printable(raw: bytes) -> str:
    text = raw[: KEPT * 4].decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)[:KEPT]


def record(delivery_id: int, attempt: Attempt) -> str:
    now = utcnow()
    delivery = db.session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    assert endpoint is not None
    config = settings()
    delivery.claimed_until = None
    delivery.last_status_code, delivery.last_response = attempt.status_code, attempt.response
    if attempt.ok:
        delivery.status, delivery.delivered_at, delivery.last_error = (
            WebhookStatus.DELIVERED,
            now,
            "",
        )
        endpoint.failing_since = None
    else:
        delivery.last_error = attempt.error or f"HTTP {attempt.status_code}"
        if delivery.attempts >= config.WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookStatus.FAILED
        else:
            wait = rules.backoff_seconds(
                delivery.attempts,
                config.WEBHOOK_RETRY_SECONDS,
                config.WEBHOOK_RETRY_MAX_SECONDS,
                random.random(),  # spreads retries; guards nothing
            )
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        _note_failure(endpoint, delivery.last_error, now, config.WEBHOOK_DISABLE_AFTER_SECONDS)
    db.session.flush()
    return str(delivery.status)


def _note_failure(endpoint: WebhookEndpoint, error: str, now: datetime, limit: int) -> None:
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.enabled and now - endpoint.failing_since >= timedelta(seconds=limit):
        endpoint.enabled = False
        endpoint.disabled_note = (
            f"disabled {now:%Y-%m-%d %H:%M} UTC: every attempt failed since "
            f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC; last error: {error}"
        )[:500]
        log.warning("webhook endpoint %s disabled: %s", endpoint.id, endpoint.disabled_note)


def retry_due(now: datetime) -> int:
    """Enqueue deliveries whose wait is over, and those whose claim ran out (a killed worker)
    or whose job Redis lost; the claim keeps a row enqueued twice from being sent twice."""
    due = db.session.scalars(
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookEndpoint.enabled.is_(True),
            WebhookDelivery.status == WebhookStatus.PENDING,
            or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
            # A row never tried has its job enqueued by the commit that made it: left alone for
            # a moment, so each round does not enqueue every fresh event twice.
            or_(WebhookDelivery.attempts > 0, WebhookDelivery.created_at <= now - FRESH),
        )
        .order_by(WebhookDelivery.id)
        .limit(RETRY_BATCH)
    ).all()
    for delivery_id in due:
        enqueue_after_commit(db.session(), QUEUE, DELIVER_JOB, delivery_id)
    return len(due)
