"""Many messages on one SMTP session, each one's content sent with the next one's envelope.

Sent one by one, a message costs two round trips: MAIL, RCPT and DATA (pipelined, RFC 2920),
then the content. RFC 2920 section 3.1 lets the content be followed by the next transaction's
commands in the same write, so here each message's content waits until the next message's
envelope is known and both go together: one write and one wait a message, for the worker and
for the relay alike.

Only one message's content is ever on the wire without its reply, so a worker killed at any
moment still leaves at most one message whose fate is unknown. Results come back in order,
each as soon as its reply is read, so the caller can journal it before the next content goes.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from typing import Generic, TypeVar

from notifier.domain.send_outcome import SendResult, SendStatus
from notifier.mail.headers import check_address
from notifier.mail.smtp import SessionDropped, Transport, TransportError, dot_stuffed, result_of

T = TypeVar("T")
Results = list[tuple[T, SendResult]]
_LOST = (smtplib.SMTPServerDisconnected, OSError)


@dataclass(frozen=True)
class _Held(Generic[T]):
    """A message whose DATA the relay opened (354) and whose content waits for the next write."""

    tag: T
    content: bytes
    session: smtplib.SMTP


def _deferred(reason: str) -> SendResult:
    return SendResult(SendStatus.DEFERRED, None, reason)


def _unknown(reason: str) -> SendResult:
    return SendResult(SendStatus.UNKNOWN, None, reason)


class Pipeline(Generic[T]):
    """Send with send(), end with finish(); each result comes back with the caller's tag."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._held: _Held[T] | None = None

    def __enter__(self) -> Pipeline[T]:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if self._held is not None:
            # Left with a DATA open (the caller failed): the session can't take another command.
            self._held = None
            self._transport.discard()

    def send(self, tag: T, envelope_from: str, recipient: str, data: bytes) -> Results[T]:
        """Start one message; returns the results known by now (earlier messages', or this
        one's when the relay refused it). TransportError is reported as DEFERRED."""
        if envelope_from:  # "" is the null reverse-path
            check_address(envelope_from)
        check_address(recipient)
        done: Results[T] = []
        envelope = f"MAIL FROM:<{envelope_from}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode()
        for attempt in range(2):
            reused = self._transport.connected()
            try:
                session = self._transport.session()
            except TransportError as exc:
                done += self._not_sent(f"relay: {exc}")
                done.append((tag, _deferred(f"relay: {exc}")))
                return done
            if not session.has_extn("pipelining"):  # one message at a time, as Transport does
                done += self.finish()
                try:
                    result = self._transport.send(envelope_from, recipient, data)
                except TransportError as exc:
                    result = _deferred(f"relay: {exc}")
                done.append((tag, result))
                return done
            if self._held is not None and self._held.session is not session:
                done += self._not_sent("connection replaced before the content")
            try:
                refused = self._exchange(session, envelope, done)
            except SessionDropped as dropped:
                self._transport.discard()
                if reused and not attempt:
                    continue  # the relay may have closed an idle session: one fresh try
                done.append((tag, _deferred(str(dropped))))
                return done
            if refused is not None:
                done.append((tag, refused))
                return done
            self._held = _Held(tag, dot_stuffed(data), session)  # DATA is open for it
            return done
        raise AssertionError("unreachable")  # pragma: no cover

    def finish(self) -> Results[T]:
        """Send the held content, if any, and return its result."""
        held, self._held = self._held, None
        if held is None:
            return []
        try:
            held.session.send(held.content)
            code, reply = held.session.getreply()
        except _LOST as exc:
            self._transport.discard()
            return [(held.tag, _unknown(f"connection lost after DATA: {exc}"))]
        if code == 421:
            self._transport.discard()
        return [(held.tag, result_of(code, reply))]

    def _exchange(
        self, session: smtplib.SMTP, envelope: bytes, done: Results[T]
    ) -> SendResult | None:
        """Write the held content with this envelope; None when the relay opened DATA, else
        the refusal. SessionDropped when the session ended before this content could go."""
        held, self._held = self._held, None
        try:
            session.send((held.content if held else b"") + envelope)
            if held is not None:
                code, reply = session.getreply()
                done.append((held.tag, result_of(code, reply)))
                held = None
                if code == 421:  # the relay is closing the session: this envelope went nowhere
                    raise SessionDropped("relay closing the channel")
            replies = [session.getreply() for _ in range(3)]
        except _LOST as exc:
            if held is not None:  # its content may have arrived: nobody can tell
                done.append((held.tag, _unknown(f"connection lost after DATA: {exc}")))
            raise SessionDropped(f"connection lost before the content: {exc}") from None
        return self._transport.settle_envelope(session, replies)

    def _not_sent(self, reason: str) -> Results[T]:
        """The held message's session is gone before its content left: it can simply be retried."""
        held, self._held = self._held, None
        return [] if held is None else [(held.tag, _deferred(reason))]
