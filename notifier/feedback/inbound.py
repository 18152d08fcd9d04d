"""The unsubscribe mailbox: refusals by email, over SMTP (`notifier inbound`) or a webhook."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import getaddresses

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask

from notifier.contacts import refusal_checks, refusals
from notifier.contacts.consent_ledger import Evidence
from notifier.contacts.contacts import find_by_email
from notifier.domain.addresses import InvalidAddress, normalise_email
from notifier.domain.errors import NotFound
from notifier.domain.tokens import InvalidToken, verify_token
from notifier.feedback import bounce_handling as bounces
from notifier.feedback.sender_auth import Connection, Resolver, vouched_by
from notifier.infra.context import profile, token_secret
from notifier.infra.extensions import db
from notifier.infra.settings import settings_of
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import ConsentSource, utcnow

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 1_048_576  # a refusal is a few lines; bigger is not for this mailbox
UNSUBSCRIBE = "u"


@dataclass
class Outcome:
    refused: list[int] = field(default_factory=list)  # contacts whose refusal was handled
    pending: list[int] = field(default_factory=list)  # contacts asked to confirm it first
    ignored: str | None = None  # why nothing was done
    feedback: str | None = None  # a bounce or complaint applied (services.bounces)
    rejected: str | None = None  # a malformed report: answered with an error


def mailbox() -> tuple[str, str]:
    local, _, domain = profile().identity.unsubscribe_mailbox.lower().partition("@")
    return local, domain


def token_of(address: str, box: tuple[str, str]) -> str | None:
    """'' for the plain mailbox, the token of local+TOKEN@domain, None for another address."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    base, plus, token = local.partition("+")
    if base.lower() != box[0] or domain.lower() != box[1]:
        return None
    return token if plus else ""


def recipients_from_headers(raw: bytes) -> list[str]:
    """For relays that forward the message alone: where it was delivered, else To and Cc."""
    message = message_from_bytes(raw[:MAX_MESSAGE_BYTES], policy=default)
    for name in ("Delivered-To", "X-Original-To"):
        values = message.get_all(name) or []
        if values:
            return [str(v).strip() for v in values]
    fields = [str(v) for name in ("To", "Cc") for v in message.get_all(name) or []]
    return [address for _, address in getaddresses(fields) if address]


def handle_message(
    raw: bytes,
    recipients: Sequence[str],
    channel: str = "smtp",
    *,
    resolver: Resolver,
    connection: Connection | None = None,
) -> Outcome:
    """A valid token, or a From domain DKIM or SPF vouches for, refuses at once; other mail from
    a known contact's address only asks that address to confirm (a From header is easily forged).
    """
    returned = [r for r in recipients if bounces.is_bounce_address(r)]
    if returned:
        result = bounces.receive_mail(raw, returned, channel)
        return Outcome(feedback=result.applied, ignored=result.ignored, rejected=result.problem)
    message = message_from_bytes(raw[:MAX_MESSAGE_BYTES], policy=default)
    assert isinstance(message, EmailMessage)
    if _automatic(message):
        return Outcome(ignored="automatic message (bounce or auto-reply)")
    box = mailbox()
    tokens = [t for t in (token_of(r, box) for r in recipients) if t is not None]
    if not tokens:
        return Outcome(ignored="not addressed to the unsubscribe mailbox")
    reference = f"message-id:{str(message.get('Message-ID', ''))[:200]}"
    outcome = Outcome()
    for token in filter(None, tokens):
        try:
            claims = verify_token(token_secret(), token, UNSUBSCRIBE)
            refusals.refuse(claims.contact_id, claims.purpose, _evidence(reference))
        except (InvalidToken, NotFound):
            continue
        outcome.refused.append(claims.contact_id)
    if outcome.refused:
        return outcome
    sender = _sender(message)
    contact = find_by_email(sender) if sender else None
    if sender is None or contact is None or contact.erased_at is not None:
        return Outcome(ignored="no valid token and the sender is not a known contact")
    vouched = vouched_by(raw, sender.rpartition("@")[2], connection, resolver)
    if vouched is None:
        asked = refusal_checks.ask(contact.id, None, reference, utcnow())
        return Outcome(pending=[contact.id], ignored=None if asked else "confirmation already sent")
    refusals.refuse(contact.id, None, _evidence(f"{reference}; {vouched}"))
    return Outcome(refused=[contact.id])


def _evidence(reference: str) -> Evidence:
    return Evidence(source=ConsentSource.EMAIL, reference=reference)


def _automatic(message: EmailMessage) -> bool:
    """RFC 3834: never act on (or answer) auto-replies and bounces; they would loop."""
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    return auto != "no" or str(message.get("Content-Type", "")).startswith("multipart/report")


def _sender(message: EmailMessage) -> str | None:
    """The one From address; DMARC treats a message with several as unauthenticated."""
    fields = [str(v) for v in message.get_all("From") or []]
    addresses = getaddresses(fields)
    if len(addresses) != 1:
        return None
    address = addresses[0][1]
    try:
        return normalise_email(address)
    except InvalidAddress:
        return None


def resolver_for(app: Flask) -> Resolver:
    """INBOUND_DNS_SERVERS ("ip" or "ip:port"), else the system's resolver."""
    servers = settings_of(app).INBOUND_DNS_SERVERS
    return Resolver([servers] if isinstance(servers, str) else [str(s) for s in servers])


class _Handler:
    """aiosmtpd handler: accepts mail for the unsubscribe mailbox only."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.resolver = resolver_for(app)
        with app.app_context():
            self.box = mailbox()
            self.bounce_domain = bounces.bounce_domain()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        bounce = self.bounce_domain and address.rpartition("@")[2].lower() == self.bounce_domain
        if token_of(address, self.box) is None and not bounce:
            return "550 5.1.1 Only the unsubscribe and bounce mailboxes are served here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        client = Connection(
            client_ip=str(session.peer[0]) if session.peer else "",
            helo=session.host_name or "",
            mail_from=envelope.mail_from or "",
        )
        try:
            outcome = await asyncio.to_thread(self._process, raw, list(envelope.rcpt_tos), client)
        except Exception:  # the sender's server retries a 4xx: the refusal is not lost
            log.exception("inbound message could not be processed")
            return "451 4.3.0 Temporary failure, please retry"
        if outcome.rejected:
            return f"550 5.6.0 Malformed report: {outcome.rejected[:200]}"
        return "250 OK refusal received"

    def _process(self, raw: bytes, rcpts: list[str], client: Connection) -> Outcome:
        with self.app.app_context():
            try:
                # The entry point of the inbound process: one unit of work per message.
                with unit_of_work():
                    outcome = handle_message(raw, rcpts, resolver=self.resolver, connection=client)
                log.info("inbound: refused %s pending %s feedback %s ignored %s", outcome.refused,
                         outcome.pending, outcome.feedback, outcome.ignored)  # fmt: skip
                return outcome
            finally:
                db.session.remove()


def start_receiver(app: Flask, host: str, port: int) -> Controller:
    """Started in a background thread; port 0 picks a free one (controller.port tells)."""
    controller = _Controller(
        _Handler(app), hostname=host, port=port, data_size_limit=MAX_MESSAGE_BYTES
    )
    controller.start()
    return controller


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Learn the real port when started on port 0, before the readiness probe uses it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def serve_inbound(app: Flask, host: str, port: int) -> None:
    """Until SIGINT or SIGTERM."""
    controller = start_receiver(app, host, port)
    print(f"inbound SMTP receiver on {host}:{controller.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
