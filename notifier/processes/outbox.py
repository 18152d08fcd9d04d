"""The built-in outbox: an SMTP server on 127.0.0.1 that stores every message it receives."""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.parser import HeaderParser
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask
from sqlalchemy import Engine, insert
from sqlalchemy.exc import SQLAlchemyError

from notifier.infra.extensions import db
from notifier.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# One INSERT carries at most this much, so a burst of large messages cannot exhaust memory twice.
BATCH_ROWS = 500
BATCH_BYTES = 32 * 1024 * 1024
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_STOP = None


class OutboxError(RuntimeError):
    """The outbox cannot start, for example because its port is taken."""


@dataclass(frozen=True)
class RunningOutbox:
    port: int

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"


def _clean(value: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL or lone surrogates; columns have limits: keep what fits.
    text = value.encode("utf-8", "replace").decode("utf-8", "replace").replace("\x00", "")
    return text[:limit]


def decoded_subject(raw: bytes) -> str:
    """The Subject as a person reads it: encoded words and raw UTF-8 (SMTPUTF8) decoded."""
    head = _HEADER_END.split(raw, maxsplit=1)[0].decode("utf-8", "replace")
    try:
        subject = HeaderParser(policy=policy.default).parsestr(head, headersonly=True)["subject"]
        return _clean(" ".join(str(subject or "").split()), 1000)
    except Exception:  # a malformed header must not lose the message; the raw bytes keep it all
        log.warning("outbox: undecodable Subject header", exc_info=True)
        return ""


def message_row(mail_from: str | None, recipients: Sequence[str], raw: bytes) -> dict[str, Any]:
    return {
        "received_at": utcnow(),
        "mail_from": _clean(mail_from or "", 500),
        "recipients": [_clean(r, 500) for r in recipients],
        "subject": decoded_subject(raw),
        "raw": raw,
    }


class OutboxStore:
    """One writer thread inserts all that arrived meanwhile in one statement, not one per mail."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="outbox-store", daemon=True)
        self._thread.start()

    def submit(self, row: dict[str, Any]) -> Future[None]:
        """The future completes once the row is committed, so 250 means stored."""
        done: Future[None] = Future()
        self._queue.put((row, done))
        return done

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch, stopping = self._next_batch()
            if batch:
                self._write(batch)
            if stopping:
                return

    def _next_batch(self) -> tuple[list[tuple[dict[str, Any], Future[None]]], bool]:
        item = self._queue.get()
        batch, size = [], 0
        while item is not _STOP:
            batch.append(item)
            size += len(item[0]["raw"])
            if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES or self._queue.empty():
                return batch, False
            item = self._queue.get()
        return batch, True

    def _write(self, batch: list[tuple[dict[str, Any], Future[None]]]) -> None:
        # A client that hung up after its final dot cancelled its future; its mail is kept anyway.
        waiting = [done for _, done in batch if done.set_running_or_notify_cancel()]
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(OutboxMessage.__table__), [row for row, _ in batch])
        except SQLAlchemyError as exc:
            log.exception("outbox: could not store %d messages", len(batch))
            for done in waiting:
                done.set_exception(exc)
            return
        for done in waiting:
            done.set_result(None)


class OutboxHandler:
    def __init__(self, store: OutboxStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        row = message_row(envelope.mail_from, envelope.rcpt_tos, raw)
        try:
            await asyncio.wrap_future(self.store.submit(row))
        except SQLAlchemyError:
            return "451 4.3.0 The outbox could not store the message; try again later"
        return "250 2.0.0 Stored in the outbox"


class _OutboxSMTP(SMTP):
    # Mail from broken senders may carry lines longer than RFC 5321's 1000: keep it, don't refuse.
    line_length_limit = MAX_MESSAGE_BYTES


class _Controller(Controller):
    """Learns the real port before its start-up self-connection, so port 0 works."""

    def factory(self) -> SMTP:
        return _OutboxSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        if self.port == 0:
            server = cast(asyncio.Server, self.server)
            self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _controller(store: OutboxStore, port: int) -> _Controller:
    return _Controller(
        OutboxHandler(store),
        hostname=HOST,
        port=port,
        data_size_limit=MAX_MESSAGE_BYTES,
        enable_SMTPUTF8=True,
        decode_data=False,
        ident="notifier outbox",
    )


def check_port_free(port: int) -> None:
    """Raise OSError if 127.0.0.1:port is taken (aiosmtpd would say so only after 5 s)."""
    with socket.socket() as probe:
        # The same option asyncio's server sets, so a port in TIME_WAIT still counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((HOST, port))


@contextmanager
def running_outbox(app: Flask, port: int | None = None) -> Iterator[RunningOutbox]:
    """Serve in a background thread; OUTBOX_PORT when port is None, 0 for any free port."""
    wanted = int(app.config.get("OUTBOX_PORT", 8025)) if port is None else port
    with app.app_context():
        store = OutboxStore(db.engine)
    controller = _controller(store, wanted)
    try:
        check_port_free(wanted)
        controller.start()
    except (OSError, TimeoutError) as exc:
        store.close()
        raise OutboxError(
            f"the outbox SMTP server cannot listen on {HOST}:{wanted}: {exc}"
        ) from None
    try:
        yield RunningOutbox(controller.port)
    finally:
        controller.stop()
        store.close()


def serve_outbox(app: Flask, port: int | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with running_outbox(app, port) as outbox:
        print(f"outbox SMTP server listening on {outbox.url}", flush=True)
        stop.wait()
