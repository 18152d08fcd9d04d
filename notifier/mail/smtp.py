"""SMTP transport: one reused relay connection per process, each send mapped to a SendResult."""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from notifier.domain.send_outcome import SendResult, SendStatus
from notifier.mail.headers import check_address

_FALSE = frozenset({"0", "false", "no", "off"})


class SmtpSecurity(StrEnum):
    PLAIN = "smtp"
    STARTTLS = "smtp+starttls"
    TLS = "smtps"


_DEFAULT_PORTS = {SmtpSecurity.PLAIN: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465}


class InvalidSmtpUrl(ValueError):
    """SMTP_URL is not smtp://, smtp+starttls:// or smtps:// with a host."""


class TransportError(Exception):
    """The relay can't be reached or refused the session (connect, TLS, AUTH): nothing was sent."""


# How a 421 (the relay closing the session, often to slow the sender down) reads in a result.
CLOSING = "relay closing"


class SessionDropped(Exception):
    """The connection closed before the message content was sent, so a retry is safe."""


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    security: SmtpSecurity
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    verify: bool = True
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse `smtp[+starttls]|smtps://[user:password@]host[:port][?verify=false&timeout=10]`."""
        parts = urlsplit(url)
        try:
            security = SmtpSecurity(parts.scheme.lower())
            port = parts.port or _DEFAULT_PORTS[security]
        except ValueError as exc:
            raise InvalidSmtpUrl(f"bad SMTP_URL: {exc}") from None
        if not parts.hostname:
            raise InvalidSmtpUrl("SMTP_URL has no host")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        try:
            timeout = float(query.get("timeout", "30"))
        except ValueError:
            raise InvalidSmtpUrl("SMTP_URL timeout is not a number") from None
        return cls(
            security=security,
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            verify=query.get("verify", "true").lower() not in _FALSE,
            timeout=timeout,
        )


def result_of(code: int, reply: bytes) -> SendResult:
    text = reply.decode("utf-8", "replace")
    if 200 <= code < 300:
        return SendResult(SendStatus.SENT, code, text)
    if 400 <= code < 500:
        return SendResult(SendStatus.DEFERRED, code, text)
    return SendResult(SendStatus.FAILED, code, text)


def dot_stuffed(data: bytes) -> bytes:
    """Return CRLF DATA content with leading dots doubled and the end-of-data marker appended."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    # bytes.replace is ten times faster than a multiline regex on a 20 kB message.
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    return (b"." + stuffed if stuffed.startswith(b".") else stuffed) + b".\r\n"


class Transport:
    """Sends over one lazily opened connection, reconnecting once if the relay dropped it."""

    def __init__(self, config: SmtpConfig, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self._ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None
        self._pid = 0
        self.connections_opened = 0

    @classmethod
    def from_url(cls, url: str, *, ssl_context: ssl.SSLContext | None = None) -> Transport:
        return cls(SmtpConfig.from_url(url), ssl_context=ssl_context)

    def limit_timeout(self, seconds: float) -> None:
        """No socket operation may wait longer than `seconds` (a fraction of the claim lease,
        so that one stalled exchange cannot outlive the claim it sends for). Applies to the
        connection already open too."""
        if seconds >= self.config.timeout:
            return
        self.config = replace(self.config, timeout=seconds)
        if self._conn is not None and self._conn.sock is not None:
            self._conn.sock.settimeout(seconds)

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, envelope_from: str, recipient: str, data: bytes) -> SendResult:
        """Send one message to one recipient; TransportError when no session can be opened."""
        if envelope_from:  # "" is the null reverse-path
            check_address(envelope_from)
        check_address(recipient)
        reused = self.connected()
        try:
            return self._transaction(self.session(), envelope_from, recipient, data)
        except SessionDropped as dropped:
            self.discard()
            if not reused:
                return SendResult(SendStatus.DEFERRED, None, str(dropped))
        # A reused connection may have been closed by the relay while idle; one retry on a new one.
        try:
            return self._transaction(self.session(), envelope_from, recipient, data)
        except SessionDropped as dropped:
            self.discard()
            return SendResult(SendStatus.DEFERRED, None, str(dropped))

    def send_many(
        self, envelope_from: str, messages: Iterable[tuple[str, bytes]]
    ) -> list[SendResult]:
        """Send (recipient, data) pairs in order over the same connection."""
        return [self.send(envelope_from, recipient, data) for recipient, data in messages]

    def close(self) -> None:
        """Say QUIT and close; the next send opens a new connection."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def connected(self) -> bool:
        """Whether a session is open already (it may have been closed by the relay since)."""
        return self._conn is not None and self._pid == os.getpid()

    def discard(self) -> None:
        """Close the session without a word: it is broken or in the middle of a command."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def session(self) -> smtplib.SMTP:
        """The open session, or a new one (TransportError when none can be opened)."""
        # After a fork the inherited socket belongs to the parent too: drop it, never write to it.
        if self._conn is not None and self._pid != os.getpid():
            self._conn = None
        if self._conn is None:
            self._conn = self._open()
            self._pid = os.getpid()
            self.connections_opened += 1
        return self._conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is not None:
            return self._ssl_context
        context = ssl.create_default_context()
        if not self.config.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _open(self) -> smtplib.SMTP:
        config = self.config
        conn: smtplib.SMTP
        try:
            if config.security is SmtpSecurity.TLS:
                conn = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=config.timeout, context=self._tls_context()
                )
            else:
                conn = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            conn.ehlo()
            if config.security is SmtpSecurity.STARTTLS:
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if config.username is not None:
                conn.login(config.username, config.password or "")
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(
                f"cannot open SMTP session to {config.host}:{config.port}: {exc}"
            ) from exc
        return conn

    def _transaction(
        self, conn: smtplib.SMTP, envelope_from: str, recipient: str, data: bytes
    ) -> SendResult:
        """Run MAIL, RCPT, DATA; SessionDropped when the connection goes before the content."""
        if conn.has_extn("pipelining"):
            return self._pipelined(conn, envelope_from, recipient, data)
        for command, argument, expected in (
            ("MAIL", f"FROM:<{envelope_from}>", 250),
            ("RCPT", f"TO:<{recipient}>", 250),
            ("DATA", "", 354),
        ):
            try:
                code, reply = conn.docmd(command, argument)
            except smtplib.SMTPServerDisconnected as exc:
                raise SessionDropped(f"connection lost at {command}: {exc}") from None
            if code == 421:  # the relay is closing the channel
                raise SessionDropped(f"{CLOSING} at {command}: {reply.decode('utf-8', 'replace')}")
            if code != expected and not (command == "RCPT" and code == 251):
                self._reset(conn)
                return result_of(code, reply)
        return self._content(conn, data)

    def _pipelined(
        self, conn: smtplib.SMTP, envelope_from: str, recipient: str, data: bytes
    ) -> SendResult:
        """RFC 2920: MAIL, RCPT and DATA in one write, then their three replies: one round trip."""
        commands = f"MAIL FROM:<{envelope_from}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n"
        replies = []
        try:
            conn.send(commands.encode("utf-8"))
            for _ in range(3):
                replies.append(conn.getreply())
        except smtplib.SMTPServerDisconnected as exc:
            raise SessionDropped(f"connection lost before the content: {exc}") from None
        refused = self.settle_envelope(conn, replies)
        return refused if refused is not None else self._content(conn, data)

    def settle_envelope(
        self, conn: smtplib.SMTP, replies: list[tuple[int, bytes]]
    ) -> SendResult | None:
        """Judge the replies to MAIL, RCPT and DATA: None when DATA is open for the content,
        else the refusal, with the session reset for the next message. SessionDropped on 421."""
        (mail_code, mail_reply), (rcpt_code, rcpt_reply), (data_code, data_reply) = replies
        if 421 in (mail_code, rcpt_code, data_code):
            raise SessionDropped(f"{CLOSING} the channel")
        refused = None
        if mail_code != 250:
            refused = result_of(mail_code, mail_reply)
        elif rcpt_code not in (250, 251):
            refused = result_of(rcpt_code, rcpt_reply)
        if data_code != 354:
            self._reset(conn)
            return refused or result_of(data_code, data_reply)
        if refused is not None:
            # A server that opened DATA despite the refusal gets an empty message, then RSET.
            try:
                conn.send(b".\r\n")
                conn.getreply()
            except smtplib.SMTPServerDisconnected:
                self.discard()
                return refused
            self._reset(conn)
        return refused

    def _content(self, conn: smtplib.SMTP, data: bytes) -> SendResult:
        try:
            conn.send(dot_stuffed(data))
            code, reply = conn.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            self.discard()
            return SendResult(SendStatus.UNKNOWN, None, f"connection lost after DATA: {exc}")
        if code == 421:
            self.discard()
        return result_of(code, reply)

    def _reset(self, conn: smtplib.SMTP) -> None:
        """RSET after a refused command so the next message starts clean; a failing RSET ends it."""
        try:
            code, _ = conn.docmd("RSET")
        except smtplib.SMTPServerDisconnected:
            code = 0
        if code != 250:
            self.discard()
