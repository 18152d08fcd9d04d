"""An SMTP relay for the chaos suite that can misbehave on command, and counts what it queued.

It speaks enough ESMTP with PIPELINING for notifier's transport and, unlike a well-behaved test
server, it can:

- stall: stop reading and answering, as a relay frozen by its host (SIGSTOP, a full disk) does;
  TCP still accepts and buffers. On `resume` it reads what was buffered, including what clients
  sent before they gave up and hung up, and queues every complete message in it: the kernel
  had those bytes, so a real relay would have delivered them. This is what makes a stall longer
  than the claim lease dangerous.
- slow down: delay each reply to the end of a message's data by `reply_delay` seconds.
- refuse for now: answer 421 (and hang up) or 451 to a given share of transactions, at a
  random step of the transaction (MAIL, RCPT, DATA or the end of the data).
- drop after DATA: queue the message, then hang up before its reply, for the next messages
  whose key starts with a given prefix; a real relay that crashes or loses its link right
  after queueing leaves the sender not knowing.

Messages are counted by the key of their Message-ID (`<d123.random@...>` names delivery 123,
`n45` notice 45: see notifier.mail.message.new_message_id), so a duplicate is a key queued
twice, whatever the recipient.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

_MESSAGE_ID = re.compile(rb"\nMessage-ID: <(([A-Za-z0-9]+)\.[^>@]*@[^>]*)>", re.IGNORECASE)
_PHASES = (b"MAIL", b"RCPT", b"DATA", b"END")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Relay:
    port: int = field(default_factory=free_port)
    seed: int = 12
    # What it queued: per Message-ID key, the full Message-IDs in arrival order.
    queued: dict[str, list[str]] = field(default_factory=dict)
    recipients: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    # Behaviour, changeable at any time from the test's thread.
    reply_delay: float = 0.0
    rate_421: float = 0.0
    rate_451: float = 0.0
    transient_replies: Counter[int] = field(default_factory=Counter)
    dropped: list[str] = field(default_factory=list)  # keys queued without a reply
    _drops: dict[str, int] = field(default_factory=dict)  # key prefix -> drops still to do

    def start(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._stalled = False
        self._sessions: set[_Session] = set()
        self._frozen: list[_Session] = []  # closed by the client during a stall, data unread
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(
                self._loop.create_server(lambda: _Session(self), "127.0.0.1", self.port)
            )
            ready.set()
            self._loop.run_forever()
            server.close()

        self._thread = threading.Thread(target=run, name="chaos-relay", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the chaos relay did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    # -- faults, called from the test's thread ---------------------------------------------

    def stall(self) -> None:
        self._call(self._set_stalled, True)

    def resume(self) -> None:
        self._call(self._set_stalled, False)

    def drop_after_data(self, prefix: str, count: int = 1) -> None:
        """The next `count` messages whose key starts with `prefix` ("d" campaign mail, "n"
        notices) are queued and then the connection is dropped before the reply."""
        with self._lock:
            self._drops[prefix] = self._drops.get(prefix, 0) + count

    def drops_left(self) -> int:
        with self._lock:
            return sum(self._drops.values())

    def _call(self, function: object, *args: object) -> None:
        done = threading.Event()

        def call() -> None:
            try:
                function(*args)  # type: ignore[operator]
            finally:
                done.set()

        self._loop.call_soon_threadsafe(call)
        if not done.wait(10):
            raise RuntimeError("the chaos relay did not answer")

    def _set_stalled(self, stalled: bool) -> None:
        self._stalled = stalled
        if stalled:
            return
        for session in list(self._sessions) + self._frozen:
            session.thaw()
        self._frozen = []

    # -- bookkeeping, on the relay's loop ---------------------------------------------------

    def _queue(self, message: bytes, rcpts: list[str]) -> str:
        end = message.find(b"\r\n\r\n")
        headers = message if end < 0 else message[:end]
        match = _MESSAGE_ID.search(b"\n" + headers)
        key, full = (match.group(2).decode(), match.group(1).decode()) if match else ("?", "?")
        with self._lock:
            self.queued.setdefault(key, []).append(full)
            self.recipients.update(rcpts)
            self.messages += 1
        return key

    def _should_drop(self, key: str) -> bool:
        with self._lock:
            for prefix, left in self._drops.items():
                if left and key.startswith(prefix):
                    self._drops[prefix] = left - 1
                    self.dropped.append(key)
                    return True
        return False

    def _transient_fault(self) -> tuple[bytes, int] | None:
        """For a new transaction: (the step that fails, the code), or None."""
        draw = self._random.random()
        if draw < self.rate_421:
            code = 421
        elif draw < self.rate_421 + self.rate_451:
            code = 451
        else:
            return None
        self.transient_replies[code] += 1
        return self._random.choice(_PHASES), code

    # -- views for the test -------------------------------------------------------------

    def count(self, prefix: str = "") -> int:
        """Messages queued (arrivals, duplicates included) whose key starts with `prefix`."""
        with self._lock:
            return sum(len(ids) for key, ids in self.queued.items() if key.startswith(prefix))

    def forget(self) -> None:
        """Start counting afresh (a second campaign in one test)."""
        with self._lock:
            self.queued.clear()
            self.recipients.clear()
            self.dropped.clear()
            self.messages = 0

    def snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            return {key: list(ids) for key, ids in self.queued.items()}


class _Session(asyncio.Protocol):
    """One SMTP connection. Replies go out in order through `_out`, which applies the delay."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.buffer = b""
        self.in_data = False
        self.mail_ok = False
        self.rcpts: list[str] = []
        self.fault: tuple[bytes, int] | None = None
        self.closing = False
        self.greeted = False
        self.transport: asyncio.Transport | None = None
        self._out: deque[tuple[float, bytes | None]] = deque()  # None: hang up
        self._timer: asyncio.TimerHandle | None = None
        self._ready_at = 0.0

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.relay._sessions.add(self)
        if not self.relay._stalled:
            self._greet()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.relay._stalled:
            self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay._sessions.discard(self)
        self.transport = None
        if self.relay._stalled and self.buffer:
            self.relay._frozen.append(self)  # its bytes reached the host: read them on resume

    def thaw(self) -> None:
        if not self.greeted and self.transport is not None:
            self._greet()
        self._process()

    def _greet(self) -> None:
        self.greeted = True
        self._send(b"220 chaos relay ESMTP\r\n")

    # the protocol
    def _process(self) -> None:
        while not self.closing:
            if self.in_data:
                if self.buffer.startswith(b".\r\n"):  # an empty message
                    message, self.buffer = b"", self.buffer[3:]
                else:
                    end = self.buffer.find(b"\r\n.\r\n")
                    if end == -1:
                        return
                    message, self.buffer = self.buffer[: end + 2], self.buffer[end + 5 :]
                self.in_data = False
                self._end_of_data(message)
                continue
            line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                return
            self.buffer = rest
            self._send(self._command(line))

    def _end_of_data(self, message: bytes) -> None:
        rcpts, self.rcpts, self.mail_ok = self.rcpts, [], False
        fault, self.fault = self.fault, None
        if fault is not None and fault[0] == b"END":
            self._refuse(fault[1])
            return
        key = self.relay._queue(message, rcpts)
        if self.relay._should_drop(key):
            self._hang_up()  # queued, and the sender never learns it
            return
        self._send(b"250 2.0.0 queued as " + key.encode() + b"\r\n", self.relay.reply_delay)

    def _command(self, line: bytes) -> bytes:
        verb = line[:4].upper()
        if verb == b"MAIL":
            self.fault = self.relay._transient_fault()
        if self.fault is not None and self.fault[0] == verb:
            code = self.fault[1]
            self.fault = None
            if verb == b"MAIL":
                self.mail_ok = False
            if verb == b"DATA":
                self.rcpts, self.mail_ok = [], False
            return self._refusal(code)
        if verb in (b"EHLO", b"HELO"):
            return b"250-chaos\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        if verb == b"MAIL":
            self.mail_ok, self.rcpts = True, []
            return b"250 2.1.0 ok\r\n"
        if verb == b"RSET":
            self.mail_ok, self.rcpts, self.fault = False, [], None
            return b"250 2.0.0 ok\r\n"
        if verb == b"RCPT":
            if not self.mail_ok:
                return b"503 5.5.1 MAIL first\r\n"
            match = re.search(rb"<([^>]*)>", line)
            self.rcpts.append(match.group(1).decode() if match else "")
            return b"250 2.1.5 ok\r\n"
        if verb == b"DATA":
            if not self.rcpts:
                return b"554 5.5.1 no valid recipients\r\n"
            self.in_data = True
            return b"354 go ahead\r\n"
        if verb == b"QUIT":
            self.closing = True
            self._out.append((self._ready_at, b"221 bye\r\n"))
            self._out.append((self._ready_at, None))
            self._kick()
            return b""
        return b"250 ok\r\n"

    def _refusal(self, code: int) -> bytes:
        if code == 421:
            self.closing = True
            self._out.append((self._ready_at, b"421 4.3.2 closing connection, try later\r\n"))
            self._out.append((self._ready_at, None))
            self._kick()
            return b""
        return b"451 4.3.0 temporary failure, try again\r\n"

    def _refuse(self, code: int) -> None:
        reply = self._refusal(code)
        if reply:
            self._send(reply)

    def _hang_up(self) -> None:
        self.closing = True
        self._out.append((self._ready_at, None))
        self._kick()

    # output, in order, after the delay
    def _send(self, reply: bytes, delay: float = 0.0) -> None:
        if not reply:
            return
        loop = asyncio.get_running_loop()
        self._ready_at = max(self._ready_at, loop.time() + delay)
        self._out.append((self._ready_at, reply))
        self._kick()

    def _kick(self) -> None:
        if self._timer is None:  # else the pending timer writes it, in order
            self._pump()

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = None
        now = loop.time()
        while self._out and self._out[0][0] <= now:
            _, reply = self._out.popleft()
            if self.transport is None:
                continue  # the client is gone: a reply nobody reads
            if reply is None:
                self.transport.close()  # after what was written before it
                self._out.clear()
                return
            self.transport.write(reply)
        if self._out:
            self._timer = loop.call_at(self._out[0][0], self._pump)


def wait_for(condition: object, timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout} s")
