"""A real in-process SMTP server (aiosmtpd in a thread) that records what it receives, for tests.

    with SmtpTestServer() as server:
        transport = Transport.from_url(server.url)
        ...
        assert server.messages[0].rcpt_tos == ["a@example.com"]

As a pytest fixture:

    @pytest.fixture
    def smtp_server():
        with SmtpTestServer() as server:
            yield server
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # the raw message as sent, dot-stuffing removed
    received_at: float = 0.0  # time.monotonic() when accepted: a rate test counts per second


class _Recorder:
    """aiosmtpd handler: records messages and answers as the owning server is configured."""

    def __init__(self, server: SmtpTestServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.server.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        server = self.server
        with server.lock:
            server.data_started += 1
        # Decided when the content arrives: a test may change the replies during the delay.
        refusal = next(
            (server.data_replies[r] for r in envelope.rcpt_tos if r in server.data_replies), None
        )
        if server.data_delay:
            await asyncio.sleep(server.data_delay)  # a slow relay
        if any(rcpt in server.drop_after_data for rcpt in envelope.rcpt_tos):
            assert isinstance(smtp.transport, asyncio.Transport)
            smtp.transport.abort()  # the reply below never reaches the client
            return "250 OK"
        if refusal is not None:
            return refusal
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            received_at=time.monotonic(),
        )
        with server.lock:
            server.messages.append(message)
        return "250 OK queued"


class _CountingController(Controller):
    """Counts client connections and learns the real port when started on port 0."""

    def __init__(self, owner: SmtpTestServer, **kwargs: Any) -> None:
        super().__init__(_Recorder(owner), **kwargs)
        self.owner = owner

    def factory(self) -> SMTP:
        smtp = super().factory()
        with self.owner.lock:
            self.owner.sessions.append(smtp)
        return smtp

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpTestServer:
    """Threaded aiosmtpd on a free 127.0.0.1 port.

    rcpt_replies / data_replies: recipient -> reply line (e.g. "450 4.2.0 try later") answered
    to RCPT or at the end of DATA; drop_after_data: recipients whose connection is cut after the
    content is received, without a reply; data_delay: seconds before each reply to the content.
    `connections` counts client connections;
    `drop_connections()` closes them from the server side, as a relay's idle timeout would;
    `restart()` keeps the port.
    tls_context enables STARTTLS; implicit_tls serves TLS from the first byte (smtps).
    """

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        auth: bool = False,
    ) -> None:
        self.lock = threading.Lock()
        self.messages: list[ReceivedMessage] = []
        self.sessions: list[SMTP] = []
        self.logins: list[tuple[str, str]] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: dict[str, str] = {}
        self.drop_after_data: set[str] = set()
        self.data_delay = 0.0  # seconds before each reply to DATA's content
        self.data_started = 0  # contents received so far, answered or not yet
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._auth = auth
        self._port = 0
        self._controller: _CountingController | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        if self._implicit_tls:
            scheme = "smtps"
        elif self._tls_context is not None:
            scheme = "smtp+starttls"
        else:
            scheme = "smtp"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def connections(self) -> int:
        return len(self.sessions)

    def connections_after(self, expected: int, within: float = 2.0) -> int:
        """`connections` once it reaches `expected` or `within` seconds pass. A client's connect
        returns when the kernel has accepted it; the server's loop counts it a moment later, so a
        bare TCP connect (a readiness probe) may not be counted yet when the client is done."""
        deadline = time.monotonic() + within
        while self.connections < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.connections

    def start(self) -> None:
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self._port}
        if self._implicit_tls:
            kwargs["ssl_context"] = self._tls_context
        elif self._tls_context is not None:
            kwargs["tls_context"] = self._tls_context
        if self._auth:
            kwargs.update(authenticator=self._accept_login, auth_require_tls=False)
        controller = _CountingController(self, **kwargs)
        controller.start()
        self._port = controller.port
        self._controller = controller
        with self.lock:
            self.sessions.clear()  # the controller's own start-up probe is not a client

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _accept_login(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """Accept any credentials and record them, so a test can check what the client sent."""
        if isinstance(auth_data, LoginPassword):
            with self.lock:
                self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    def drop_connections(self) -> None:
        """Close every open client connection from the server side."""
        controller = self._controller
        assert controller is not None
        done = threading.Event()

        def close_all() -> None:
            for smtp in self.sessions:
                if smtp.transport is not None:
                    smtp.transport.close()
            done.set()

        controller.loop.call_soon_threadsafe(close_all)
        done.wait(5)

    def __enter__(self) -> SmtpTestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
