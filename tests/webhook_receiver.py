"""A real webhook receiver, as docs/webhooks.md tells a receiving system to write one: it checks
the signature and the timestamp on its own (not with notifier's code), drops an event id it has
seen, and answers what the test scripts (500 then 200, a huge body, silence, a slow trickle)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE = 300


def verified(secret: str, header: str, body: bytes, now: float) -> bool:
    """The receiver's check, written from the docs: t=<unix>,v1=<hex HMAC-SHA256("t.body")>."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.partition("=")
        fields.setdefault(key.strip(), []).append(value.strip())
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE:  # a captured request replayed later
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return any(hmac.compare_digest(expected.hexdigest(), v) for v in fields.get("v1", []))


@dataclass
class Post:
    event: dict[str, Any]
    event_id_header: str
    signature_ok: bool
    answered: int | str


@dataclass
class Receiver:
    secret: str = ""
    # What to answer, in order; then `default`. An int is a status; "hang" holds the request
    # until `release` is set; "huge" answers 200 with 50 MB; "trickle" sends one byte a second.
    script: list[int | str] = field(default_factory=list)
    default: int | str = 200
    posts: list[Post] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # by event id: acted once
    duplicates: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        ok = verified(self.secret, handler.headers.get("Notifier-Signature", ""), body, time.time())
        event = json.loads(body)
        with self.lock:
            answer = self.script.pop(0) if self.script else self.default
            self.posts.append(Post(event, handler.headers.get("Notifier-Event-Id", ""), ok, answer))
        if answer == "hang":
            self.holding.set()
            self.release.wait(120)
            return  # the connection closes with no answer
        if answer == "trickle":
            handler.send_response(200)
            handler.end_headers()
            for _ in range(120):
                handler.wfile.write(b".")
                handler.wfile.flush()
                time.sleep(1)
            return
        if answer == "huge":
            handler.send_response(200)
            handler.send_header("Content-Length", str(50 * 1024 * 1024))
            handler.end_headers()
            chunk = b"x" * (1024 * 1024)
            for _ in range(50):
                handler.wfile.write(chunk)
            return
        status = int(answer)
        if 200 <= status < 300 and ok:
            with self.lock:
                if event["id"] in self.accepted:
                    self.duplicates += 1  # seen: acknowledged, not acted on again
                else:
                    self.accepted[event["id"]] = event
        handler.send_response(status if ok else 400)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()
        handler.wfile.write(b"ok" if ok else b"bad signature")

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.accepted.values() if e["type"] == event_type]


@contextmanager
def receiving(secret: str = "") -> Iterator[Receiver]:
    receiver = Receiver(secret=secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            # notifier hanging up on us (a timeout, a read limit) is the point of some tests
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                receiver.handle(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_port}/hooks/notifier"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
