"""Is a message's From domain vouched for by an aligned DKIM signature or an aligned SPF pass?

DMARC's relaxed alignment (RFC 7489 3.1): the signing domain (DKIM d=) or the domain SPF checked
(MAIL FROM, else HELO) must have the same organisational domain as the From address. Every DNS
question goes through the one Resolver passed in, so tests can point it at a local server.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dkim
import dns.exception
import dns.nameserver
import dns.resolver
import spf

from notifier.domain.deliverability import organisational_domain

DNS_TIMEOUT = 5.0
MAX_SIGNATURES = 5  # a message with more is not worth the DNS lookups


class Resolver:
    """The DNS servers sender authentication asks; none given: the system's (/etc/resolv.conf)."""

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = DNS_TIMEOUT) -> None:
        self._resolver = dns.resolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = [_nameserver(server) for server in nameservers]
        self._resolver.lifetime = timeout

    def answers(self, name: str, qtype: str) -> list[Any]:
        """The records, [] when there are none; DnsUnavailable when nobody answered."""
        try:
            found = self._resolver.resolve(name, qtype, raise_on_no_answer=False, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DnsUnavailable(f"{name} {qtype}: {exc}") from None
        return list(found)

    def dkim_txt(self, name: bytes, timeout: int = 5) -> bytes | None:
        """dkimpy's `dnsfunc`: the key record at <selector>._domainkey.<domain>."""
        try:
            records = self.answers(name.decode("ascii"), "TXT")
        except DnsUnavailable as exc:
            raise dkim.DnsTimeoutError(str(exc)) from None
        return b"".join(records[0].strings) if records else None

    def spf_records(self, name: str, qtype: str) -> list[tuple[tuple[str, str], Any]]:
        """pyspf's DNSLookup result shape: ((name, type), value) per record."""
        try:
            records = self.answers(name, qtype)
        except DnsUnavailable as exc:
            raise spf.TempError(f"DNS {exc}") from None
        values = {
            "A": lambda r: r.address,
            "AAAA": lambda r: r.address,
            "MX": lambda r: (r.preference, r.exchange),
            "PTR": lambda r: r.target.to_text(True),
            "TXT": lambda r: r.strings,
            "SPF": lambda r: r.strings,
        }
        if qtype not in values:
            return []
        return [((name, qtype), values[qtype](record)) for record in records]


class DnsUnavailable(Exception):
    """No DNS server answered in time."""


def _nameserver(server: str) -> dns.nameserver.Nameserver:
    host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "53")
    return dns.nameserver.Do53Nameserver(host, int(port))


@dataclass(frozen=True)
class Connection:
    """What the receiving SMTP server saw of the client: SPF judges these."""

    client_ip: str
    helo: str = ""
    mail_from: str = ""


def vouched_by(
    raw: bytes, from_domain: str, connection: Connection | None, resolver: Resolver
) -> str | None:
    """'dkim:<domain>' or 'spf:<domain>' for the first aligned pass; None when nothing vouches."""
    wanted = organisational_domain(from_domain)
    for domain in _dkim_domains(raw, resolver):
        if organisational_domain(domain) == wanted:
            return f"dkim:{domain}"
    checked = _spf_domain(connection, resolver) if connection else None
    if checked and organisational_domain(checked) == wanted:
        return f"spf:{checked}"
    return None


def _dkim_domains(raw: bytes, resolver: Resolver) -> Iterator[str]:
    """The d= domains of the signatures that verify."""
    try:
        checker = dkim.DKIM(raw, minkey=1024)
    except dkim.DKIMException:
        return
    count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    for index in range(min(count, MAX_SIGNATURES)):
        try:
            valid = checker.verify(idx=index, dnsfunc=resolver.dkim_txt)
        except dkim.DKIMException:
            continue
        if valid and checker.domain:
            yield checker.domain.decode("ascii", "replace").lower()


def _spf_domain(connection: Connection, resolver: Resolver) -> str | None:
    """The domain SPF authorised the client for: MAIL FROM's, or HELO's for a null sender."""
    domain = connection.mail_from.rpartition("@")[2] or connection.helo
    if not domain:
        return None
    token = _spf_resolver.set(resolver)
    try:
        result, _ = spf.check2(
            i=connection.client_ip, s=connection.mail_from, h=connection.helo, querytime=DNS_TIMEOUT
        )
    finally:
        _spf_resolver.reset(token)
    return domain.lower() if result == "pass" else None


# pyspf's only DNS hook is its module-level DNSLookup function (its own tests replace it the
# same way). Bound once to a context variable, each check uses the resolver passed to it.
_spf_resolver: contextvars.ContextVar[Resolver] = contextvars.ContextVar("spf_resolver")


def _spf_lookup(
    name: str, qtype: str, strict: object = True, timeout: float = DNS_TIMEOUT
) -> list[tuple[tuple[str, str], Any]]:
    return _spf_resolver.get(Resolver()).spf_records(name, qtype)


spf.DNSLookup = _spf_lookup
