"""SMTP sinks for the benchmark: postfix's smtp-sink when installed, else a small asyncio sink."""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BuiltinSink:
    """Accepts everything, pipelining included, and counts recipients (for the ledger check)."""

    port: int = field(default_factory=free_port)
    recipients: Counter[str] = field(default_factory=Counter)
    rcpt_replies: dict[str, bytes] = field(default_factory=dict)  # address -> refusal line
    fault_rate: float = 0.0  # share of commands answered 451, or 421 and a dropped connection
    # Shares of messages (their RCPT) answered 421 and a dropped connection, or 451
    rate_421: float = 0.0
    rate_451: float = 0.0
    attempts: dict[str, list[float]] | None = None  # {}: every RCPT's time, per recipient
    messages: int = 0
    last_accept: float = 0.0
    kind: str = "built-in asyncio sink"

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(
                self._loop.create_server(lambda: _SinkProtocol(self), "127.0.0.1", self.port)
            )
            ready.set()
            self._loop.run_forever()
            server.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(5)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def accepted(self) -> int:
        return self.messages


class _SinkProtocol(asyncio.Protocol):
    def __init__(self, sink: BuiltinSink) -> None:
        self.sink, self.buffer, self.in_data = sink, b"", False
        self.mail_ok, self.closing = False, False
        self.rcpts: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        while True:
            if self.in_data:
                # The terminator may also open the data when the message is empty.
                end = -2 if self.buffer.startswith(b".\r\n") else self.buffer.find(b"\r\n.\r\n")
                if end == -1:
                    break
                self.buffer = self.buffer[end + 5 :]
                self.mail_ok = False
                self.in_data = False
                self.sink.messages += 1
                self.sink.recipients.update(self.rcpts)
                self.sink.last_accept = time.monotonic()
                self.rcpts = []
                replies.append(b"250 2.0.0 queued\r\n")
                continue
            line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                break
            self.buffer = rest
            replies.append(self._command(line))
            if self.closing:
                break  # a relay that hangs up reads nothing more
        if replies:
            # In order, and all of them: the replies before a 421 were earned (RFC 2920).
            self.transport.write(b"".join(replies))  # type: ignore[attr-defined]
        if self.closing:
            self.transport.close()

    def _command(self, line: bytes) -> bytes:
        verb = line[:4].upper()
        if verb in (b"MAIL", b"RCPT", b"DATA") and random.random() < self.sink.fault_rate:
            if random.random() < 0.5:
                if verb == b"MAIL":
                    self.mail_ok = False
                if verb == b"DATA":
                    self.rcpts = []  # a refused DATA ends this transaction
                return b"451 4.3.0 temporary failure, try again\r\n"
            self.closing = True
            return b"421 4.3.2 closing connection\r\n"
        if verb == b"RCPT" and self.sink.attempts is not None:
            match = re.search(rb"<([^>]*)>", line)
            rcpt = match.group(1).decode() if match else ""
            self.sink.attempts.setdefault(rcpt, []).append(time.monotonic())
        if verb == b"RCPT" and self.mail_ok and (self.sink.rate_421 or self.sink.rate_451):
            draw = random.random()
            if draw < self.sink.rate_421:
                self.closing = True
                return b"421 4.7.0 too many messages, closing connection\r\n"
            if draw < self.sink.rate_421 + self.sink.rate_451:
                return b"451 4.7.1 greylisted, try again later\r\n"
        if verb in (b"EHLO", b"HELO"):
            return b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        if verb == b"MAIL":
            self.mail_ok, self.rcpts = True, []
            return b"250 2.1.0 ok\r\n"
        if verb == b"RSET":
            self.mail_ok, self.rcpts = False, []
            return b"250 2.0.0 ok\r\n"
        if verb == b"RCPT" and not self.mail_ok:
            return b"503 5.5.1 MAIL first\r\n"
        if verb == b"RCPT":
            match = re.search(rb"<([^>]*)>", line)
            address = match.group(1).decode() if match else ""
            if address in self.sink.rcpt_replies:
                return self.sink.rcpt_replies[address]
            self.rcpts.append(address)
            return b"250 2.1.5 ok\r\n"
        if verb == b"DATA":
            if not self.rcpts:
                return b"554 5.5.1 no valid recipients\r\n"
            self.in_data = True
            return b"354 go ahead\r\n"
        if verb == b"QUIT":
            self.closing = True
            return b"221 bye\r\n"
        return b"250 ok\r\n"


@dataclass
class PostfixSink:
    """postfix's smtp-sink: the reference the figures are measured against."""

    port: int = field(default_factory=free_port)
    kind: str = "postfix smtp-sink"

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["smtp-sink", "-c", "-u", "nobody", f"127.0.0.1:{self.port}", "2000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._output = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def _read(self) -> None:
        assert self._process.stdout is not None
        while chunk := self._process.stdout.read1(4096):  # type: ignore[attr-defined]
            self._output = (self._output + chunk)[-256:]

    def accepted(self) -> int:
        """smtp-sink -c prints running counters; the message count is the last field."""
        counts = re.findall(rb"(\d+)\s*$", self._output.replace(b"\r", b"\n").strip())
        return int(counts[-1]) if counts else 0

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(5)


def start_sink(prefer_postfix: bool = True) -> BuiltinSink | PostfixSink:
    sink: BuiltinSink | PostfixSink
    sink = PostfixSink() if prefer_postfix and shutil.which("smtp-sink") else BuiltinSink()
    sink.start()
    return sink


def smtp_source_rate(port: int, messages: int, size: int) -> float | None:
    """The machine's own limit: smtp-source -d -s 4 against the same sink, messages per second."""
    if not shutil.which("smtp-source"):
        return None
    started = time.perf_counter()
    subprocess.run(
        ["smtp-source", "-d", "-s", "4", "-m", str(messages), "-l", str(size),
         "-f", "bench@example.com", "-t", "sink@example.com", f"127.0.0.1:{port}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return messages / (time.perf_counter() - started)
