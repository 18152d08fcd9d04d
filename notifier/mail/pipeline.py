"""Many messages on one SMTP session: each content goes with the next envelope, and the replies
to that write are read only once the next message is composed.

Sent one by one, a message costs two round trips: MAIL, RCPT and DATA (pipelined, RFC 2920),
then the content. RFC 2920 section 3.1 lets the content be followed by the next transaction's
commands in the same write, so here each message's content waits until the next message's
envelope is known and both go together: one write a message. Its replies are not awaited at
once either: the caller composes the next message while the relay works, and the replies are
read when that message is handed over. A worker and its relay thus work side by side instead
of in turn.

Only one message's content is ever on the wire without its reply: a content is written only
after every earlier result was read and handed to `on_results`, which journals it. So a worker
killed at any moment leaves at most one message whose fate is unknown, and it is the first one
without a result.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from notifier.domain.send_outcome import SendResult, SendStatus
from notifier.mail.headers import check_address
from notifier.mail.smtp import (
    CLOSING,
    SessionDropped,
    Transport,
    TransportError,
    dot_stuffed,
    result_of,
)

T = TypeVar("T")
Results = list[tuple[T, SendResult]]
_LOST = (smtplib.SMTPServerDisconnected, OSError)


@dataclass(frozen=True, slots=True)
class _Message(Generic[T]):
    tag: T
    envelope_from: str
    recipient: str
    data: bytes


@dataclass(frozen=True, slots=True)
class _Held(Generic[T]):
    """A message whose DATA the relay opened (354) and whose content waits for the next write."""

    tag: T
    content: bytes
    session: smtplib.SMTP


@dataclass(frozen=True, slots=True)
class _Written(Generic[T]):
    """A write whose replies are not read yet: a held content (maybe) and an envelope."""

    held: _Held[T] | None
    message: _Message[T]
    session: smtplib.SMTP
    may_retry: bool  # a reused session that failed may have been closed idle: one fresh try


def _deferred(reason: str) -> SendResult:
    return SendResult(SendStatus.DEFERRED, None, reason)


def _may_retry(exc: BaseException, reused: bool) -> bool:
    """A lost session's envelope is tried again at once on a fresh session only when the
    session was a reused one that the relay may have closed while idle, and the loss was not a
    timeout: a relay that stopped answering keeps a fresh session waiting as long, and a
    second timeout within one message would outlast the sender's claim lease (the send loop
    renews it between messages, and budgets one timeout per message: exchange_timeout)."""
    timed_out = any(isinstance(e, TimeoutError) for e in (exc, exc.__context__, exc.__cause__) if e)
    return reused and not timed_out


def _unknown(reason: str) -> SendResult:
    return SendResult(SendStatus.UNKNOWN, None, reason)


class Pipeline(Generic[T]):
    """Send with send(), end with finish(); every result goes to `on_results` with the caller's
    tag, in order, as soon as it is read, and always before the next content is written."""

    def __init__(self, transport: Transport, on_results: Callable[[Results[T]], None]) -> None:
        self._transport = transport
        self._report = on_results
        self._held: _Held[T] | None = None
        self._written: _Written[T] | None = None

    def __enter__(self) -> Pipeline[T]:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if self._held is not None or self._written is not None:
            # Left mid-way (the caller failed): the session has a DATA open or replies unread,
            # so it can't take another command. An unread content's fate stays unknown: the
            # caller never got its result, as if it had died.
            self._held = self._written = None
            self._transport.discard()

    def send(self, tag: T, envelope_from: str, recipient: str, data: bytes) -> None:
        """Read the replies of the previous write, then start this message. A TransportError
        is reported as DEFERRED."""
        if envelope_from:  # "" is the null reverse-path
            check_address(envelope_from)
        check_address(recipient)
        self._collect()
        self._start(_Message(tag, envelope_from, recipient, data), may_retry=True)

    def finish(self) -> None:
        """Read what is outstanding and send the held content, if any, reporting its result."""
        self._collect()
        held, self._held = self._held, None
        if held is None:
            return
        try:
            held.session.send(held.content)
            code, reply = held.session.getreply()
        except _LOST as exc:
            self._transport.discard()
            self._report([(held.tag, _unknown(f"connection lost after DATA: {exc}"))])
            return
        if code == 421:
            self._transport.discard()
        self._report([(held.tag, result_of(code, reply))])

    def abandon(self) -> None:
        """Read what is outstanding, but drop the held content unsent (its row is no longer
        the caller's to send) with the session, whose DATA is open."""
        self._collect()
        if self._held is not None:
            self._held = None
            self._transport.discard()

    def _start(self, message: _Message[T], *, may_retry: bool) -> None:
        """Write the held content with this message's envelope; the replies wait (_collect)."""
        reused = self._transport.connected()
        try:
            session = self._transport.session()
        except TransportError as exc:
            self._report(
                [*self._not_sent(f"relay: {exc}"), (message.tag, _deferred(f"relay: {exc}"))]
            )
            return
        if not session.has_extn("pipelining"):  # one message at a time, as Transport does
            self.finish()
            try:
                result = self._transport.send(
                    message.envelope_from, message.recipient, message.data
                )
            except TransportError as exc:
                result = _deferred(f"relay: {exc}")
            self._report([(message.tag, result)])
            return
        if self._held is not None and self._held.session is not session:
            self._report(self._not_sent("connection replaced before the content"))
        held, self._held = self._held, None
        envelope = (
            f"MAIL FROM:<{message.envelope_from}>\r\nRCPT TO:<{message.recipient}>\r\nDATA\r\n"
        ).encode()
        try:
            session.send((held.content if held else b"") + envelope)
        except _LOST as exc:
            retry = may_retry and _may_retry(exc, reused)
            self._lost(held, message, retry, f"connection lost: {exc}")
            return
        self._written = _Written(held, message, session, may_retry and reused)

    def _collect(self) -> None:
        """Read the replies of the last write: the held content's result, then whether the
        relay opened DATA for the envelope (the message is held) or refused it."""
        written, self._written = self._written, None
        if written is None:
            return
        session, held = written.session, written.held
        try:
            if held is not None:
                code, reply = session.getreply()
                self._report([(held.tag, result_of(code, reply))])
                held = None
                if code == 421:  # the relay is closing the session: the envelope went nowhere
                    raise SessionDropped(f"{CLOSING} the channel")
            replies = [session.getreply() for _ in range(3)]
            refused = self._transport.settle_envelope(session, replies)
        except (*_LOST, SessionDropped) as exc:
            retry = written.may_retry and _may_retry(exc, reused=True)
            self._lost(held, written.message, retry, str(exc))
            return
        if refused is not None:
            self._report([(written.message.tag, refused)])
        else:
            content = dot_stuffed(written.message.data)
            self._held = _Held(written.message.tag, content, session)

    def _lost(
        self, held: _Held[T] | None, message: _Message[T], may_retry: bool, reason: str
    ) -> None:
        """The session ended: a content already written may have arrived (unknown); the
        envelope went nowhere, so it is tried once more on a fresh session when allowed."""
        self._transport.discard()
        if held is not None:  # its content may have arrived: nobody can tell
            self._report([(held.tag, _unknown(f"connection lost after DATA: {reason}"))])
        if not may_retry:
            self._report(
                [(message.tag, _deferred(f"connection lost before the content: {reason}"))]
            )
            return
        self._start(message, may_retry=False)
        self._collect()  # at once: the next envelope may only follow this message's content

    def _not_sent(self, reason: str) -> Results[T]:
        """The held message's session is gone before its content left: it can simply be retried."""
        held, self._held = self._held, None
        return [] if held is None else [(held.tag, _deferred(reason))]
