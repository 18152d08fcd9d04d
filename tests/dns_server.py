"""A real DNS server on a free loopback UDP port (dnslib), serving TXT records a test sets.

Sender authentication (DKIM keys, SPF policies) is checked against it, never against public DNS:

    with LocalDns() as dns:
        dns.txt["sel._domainkey.example.com"] = ["v=DKIM1; k=rsa; p=..."]
        resolver = Resolver([dns.address])
"""

from __future__ import annotations

from types import TracebackType

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

_CHUNK = 255  # one TXT character-string holds at most 255 bytes; longer records are split


class _Zone(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.questions: list[str] = []

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        self.questions.append(f"{name} {QTYPE[request.q.qtype]}")
        records = self.txt.get(name)
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in records:
                data = value.encode()
                chunks = [data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        return reply


class LocalDns:
    """`txt` maps a lower-case name to its TXT records; any other name is NXDOMAIN."""

    def __init__(self) -> None:
        self._zone = _Zone()
        self.txt = self._zone.txt
        self.questions = self._zone.questions
        self._server = DNSServer(
            self._zone, address="127.0.0.1", port=0, logger=DNSLogger("-request,-reply,-truncated")
        )

    @property
    def address(self) -> str:
        host, port = self._server.server.server_address
        return f"{host}:{port}"

    def __enter__(self) -> LocalDns:
        self._server.start_thread()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.stop()
        self._server.server.server_close()
