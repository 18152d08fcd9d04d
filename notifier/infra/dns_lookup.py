"""The DNS resolver the product asks about its own records (`notifier doctor`): DNS_RESOLVER.

An empty setting is the system's resolver (/etc/resolv.conf); "ip", "ip:port" or several of them
comma-separated name the servers, so tests and a staging site can point it at their own.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

from notifier.domain.deliverability import DnsTimeout

DNS_TIMEOUT = 5.0
# All the questions of one doctor run together: a dead DNS server must not hold a page for the
# dozen timeouts it would otherwise add up to (gunicorn kills a request after 30 seconds).
DNS_BUDGET = 20.0


class DnsLookup:
    """A deliverability `Lookup`: (name, type) -> the records as text, [] when there are none."""

    def __init__(
        self, servers: Sequence[str] = (), timeout: float = DNS_TIMEOUT, budget: float = DNS_BUDGET
    ) -> None:
        self._resolver = dns.resolver.Resolver(configure=not servers)
        if servers:
            self._resolver.nameservers = [_nameserver(server) for server in servers]
        self._timeout = timeout
        self._deadline = time.monotonic() + budget

    def __call__(self, name: str, qtype: str) -> list[str]:
        left = min(self._timeout, self._deadline - time.monotonic())
        if left <= 0:
            raise DnsTimeout(f"{name} {qtype}: no time left for DNS in this check")
        try:
            found = self._resolver.resolve(
                name, qtype, raise_on_no_answer=False, search=False, lifetime=left
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.name.NameTooLong):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DnsTimeout(f"{name} {qtype}: {exc}") from None
        except dns.exception.DNSException:
            # A name that cannot be asked (an empty label, a label over 63 octets) has no records.
            return []
        return [_text(record, qtype) for record in found]


def _text(record: object, qtype: str) -> str:
    if qtype == "TXT":
        # A hostile zone may serve any bytes: never raise on them, show them replaced.
        return b"".join(record.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if qtype in ("A", "AAAA"):
        return str(record.address)  # type: ignore[attr-defined]
    if qtype == "MX":
        return f"{record.preference} {record.exchange.to_text()}"  # type: ignore[attr-defined]
    if qtype == "PTR":
        return str(record.target.to_text())  # type: ignore[attr-defined]
    return str(record)


def lookup_from_setting(value: str, timeout: float = DNS_TIMEOUT) -> DnsLookup:
    """DNS_RESOLVER: "" for the system's resolver, else "ip[:port][,ip[:port]...]"."""
    return DnsLookup([s.strip() for s in value.split(",") if s.strip()], timeout)


def server_address(server: str) -> tuple[str, int]:
    """ "ip", "ip:port", "ipv6" or "[ipv6]:port" -> (ip, port); ValueError for anything else."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ("53" if not rest else "x")
    elif server.count(":") == 1:
        host, _, port = server.partition(":")
    else:
        host, port = server, "53"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{server}: bad port")
    return str(ipaddress.ip_address(host)), int(port)


def _nameserver(server: str) -> dns.nameserver.Nameserver:
    return dns.nameserver.Do53Nameserver(*server_address(server))
