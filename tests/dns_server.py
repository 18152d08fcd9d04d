"""A real DNS server on a free loopback UDP port (dnslib), serving TXT records a test sets.

Sender authentication (DKIM keys, SPF policies) is checked against it, never against public DNS:

    with LocalDns() as dns:
        dns.txt["sel._domainkey.example.com"] = ["v=DKIM1; k=rsa; p=..."]
        dns.add("relay.example.com", "A", "203.0.113.5")
        dns.silent.add("slow.example.com")  # never answered: the client times out
        resolver = Resolver([dns.address])
"""

from __future__ import annotations

from types import TracebackType

from dnslib import AAAA, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

_CHUNK = 255  # one TXT character-string holds at most 255 bytes; longer records are split


class _Zone(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.other: dict[tuple[str, str], list[str]] = {}  # (name, "A"|"AAAA"|"MX"|"PTR")
        self.silent: set[str] = set()
        self.questions: list[str] = []

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.questions.append(f"{name} {qtype}")
        if name in self.silent:
            raise DNSError("silent")  # dnslib's handler then sends nothing
        records = self.txt.get(name)
        if records is None and not any(key[0] == name for key in self.other):
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in records or []:
                data = value.encode() if isinstance(value, str) else value  # bytes: not UTF-8
                chunks = [data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        else:
            for value in self.other.get((name, qtype), []):
                reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=_rdata(qtype, value)))
        return reply


def _rdata(qtype: str, value: str) -> A | AAAA | MX | PTR:
    if qtype == "A":
        return A(value)
    if qtype == "AAAA":
        return AAAA(value)
    if qtype == "MX":
        preference, host = value.split()
        return MX(host, int(preference))
    return PTR(value)


class LocalDns:
    """`txt` maps a lower-case name to its TXT records; any other name is NXDOMAIN."""

    def __init__(self) -> None:
        self._zone = _Zone()
        self.txt = self._zone.txt
        self.other = self._zone.other
        self.silent = self._zone.silent
        self.questions = self._zone.questions
        self._server = DNSServer(
            self._zone, address="127.0.0.1", port=0, logger=DNSLogger("-request,-reply,-truncated")
        )

    def add(self, name: str, qtype: str, *values: str) -> None:
        """A, AAAA, MX ("10 mx.example.com") or PTR records of a name."""
        self.other.setdefault((name.lower(), qtype), []).extend(values)

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
