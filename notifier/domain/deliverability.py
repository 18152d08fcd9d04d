"""Pure checks of a sender's DNS: SPF (RFC 7208), DKIM keys (RFC 6376), DMARC (RFC 7489), MX, PTR.

Nothing here asks the network: every record comes through the `Lookup` passed in, a function of
(name, type) returning the records as text ([] when there are none) or raising DnsTimeout. Tests
pass a dict (`records_lookup`); `notifier doctor` passes one that asks the configured resolver.
Each finding names a message key (`doctor_*`, translated where it is shown), its values and, when
something is missing or wrong, the exact record to publish.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

from publicsuffixlist import PublicSuffixList

Lookup = Callable[[str, str], Sequence[str]]

# RFC 7208 4.6.4: at most 10 mechanisms or modifiers that ask DNS, and 2 lookups with no answer.
SPF_LOOKUP_LIMIT = 10
SPF_VOID_LIMIT = 2
SPF_MX_PTR_LIMIT = 10
# A record a hostile zone serves is shown cut to this many characters, never in full.
SHOWN_CHARACTERS = 200
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_MECHANISM = re.compile(r"^([+\-~?]?)(all|include|a|mx|ptr|ip4|ip6|exists)([:/].*)?$", re.I)
_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_QUALIFIER = {"+": "pass", "": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
              "::1/128", "fc00::/7", "fe80::/10")
)  # fmt: skip


class DnsTimeout(Exception):
    """No DNS server answered in time: the check could not be made."""


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    check: str  # spf, dkim, dmarc, mx, ptr, relay
    subject: str  # the domain, name or address checked
    level: Level
    code: str  # the message key: doctor_<check>_<what>
    params: Mapping[str, str] = field(default_factory=dict)
    record: str | None = None  # the record to publish, as a zone file line


@dataclass(frozen=True)
class SendingSetup:
    """What the product sends with, from its settings and profile."""

    from_domain: str
    return_path_domain: str  # BOUNCE_DOMAIN, else the From domain
    relay_host: str | None  # SMTP_URL's host; None: the built-in outbox
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_record: str | None = None  # DkimSigner.dns_txt_record(): the key that signs
    inbound_domains: tuple[str, ...] = ()  # the unsubscribe mailbox's and BOUNCE_DOMAIN


def records_lookup(records: Mapping[tuple[str, str], Sequence[str] | Exception]) -> Lookup:
    """A Lookup over a dict {(name, type): records}; an exception value is raised (a timeout)."""

    def lookup(name: str, qtype: str) -> Sequence[str]:
        found = records.get((name.lower().rstrip("."), qtype), [])
        if isinstance(found, Exception):
            raise found
        return found

    return lookup


def escaped(text: str) -> str:
    """Text from DNS as it may be printed: control and format characters escaped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def shown(text: str) -> str:
    """A record found in DNS as a finding quotes it: escaped, cut to SHOWN_CHARACTERS."""
    safe = escaped(text)
    return safe if len(safe) <= SHOWN_CHARACTERS else safe[:SHOWN_CHARACTERS] + "…"


def valid_domain(name: str) -> bool:
    name = name.rstrip(".")
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


@cache
def _public_suffixes() -> PublicSuffixList:
    # The list ships inside the package: nothing is downloaded. Parsing it takes 60 ms, which
    # only a process that reads a domain should pay, not every CLI command at start.
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    domain = domain.lower().rstrip(".")
    return str(_public_suffixes().privatesuffix(domain) or domain)


def private_address(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in network for network in _PRIVATE)


# --- SPF ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpfResult:
    result: str  # pass, fail, softfail, neutral, none, permerror, temperror, unknown
    reason: str = ""  # for permerror and unknown: lookup_limit, void_limit, loop, syntax, ...
    detail: str = ""
    record: str | None = None  # the domain's own v=spf1 record
    lookups: int = 0


class _SpfError(Exception):
    def __init__(self, result: str, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.result, self.reason, self.detail = result, reason, detail


def spf_records(txts: Sequence[str]) -> list[str]:
    return [text for text in txts if text[:7].lower() in ("v=spf1 ", "v=spf1")]


def check_spf(ip: str, domain: str, lookup: Lookup) -> SpfResult:
    """RFC 7208 check_host() for an address and a domain, following include, a, mx, ptr,
    exists and redirect within the lookup limits. Macros other than %{d}, %{i}, %{o}, %{h},
    %% give `unknown`: without a real sender they cannot be expanded."""
    evaluation = _Spf(ip, lookup)
    try:
        txts = evaluation.txt(domain)
    except _SpfError as exc:
        return SpfResult(exc.result, exc.reason, exc.detail)
    own = spf_records(txts)
    record = own[0] if len(own) == 1 else None
    try:
        result = evaluation.check(domain, ())
    except _SpfError as exc:
        return SpfResult(exc.result, exc.reason, exc.detail, record, evaluation.lookups)
    return SpfResult(result, record=record, lookups=evaluation.lookups)


class _Spf:
    def __init__(self, ip: str, lookup: Lookup) -> None:
        self.ip = ipaddress.ip_address(ip)
        self.lookup = lookup
        self.lookups = 0
        self.voids = 0

    def count(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > SPF_LOOKUP_LIMIT:
            raise _SpfError("permerror", "lookup_limit", term)

    def query(self, name: str, qtype: str) -> Sequence[str]:
        if not valid_domain(name):
            raise _SpfError("permerror", "syntax", name)
        try:
            found = self.lookup(name, qtype)
        except DnsTimeout as exc:
            raise _SpfError("temperror", "timeout", f"{name} {qtype}: {exc}") from None
        return found

    def counted_query(self, name: str, qtype: str) -> Sequence[str]:
        found = self.query(name, qtype)
        if not found:
            self.voids += 1
            if self.voids > SPF_VOID_LIMIT:
                raise _SpfError("permerror", "void_limit", f"{name} {qtype}")
        return found

    def txt(self, domain: str) -> Sequence[str]:
        return self.query(domain, "TXT")

    def addresses(self, name: str) -> Sequence[str]:
        return self.counted_query(name, "A" if self.ip.version == 4 else "AAAA")

    def check(self, domain: str, chain: tuple[str, ...]) -> str:
        domain = domain.lower().rstrip(".")
        if domain in chain:
            raise _SpfError("permerror", "loop", " → ".join((*chain, domain)))
        found = spf_records(self.txt(domain))
        if not found:
            return "none"
        if len(found) > 1:
            raise _SpfError("permerror", "multiple", domain)
        record = found[0]
        if not record.isascii():
            raise _SpfError("permerror", "not_ascii", record)
        redirect: str | None = None
        for term in record.split()[1:]:
            mechanism = _MECHANISM.match(term)
            if mechanism is None:
                modifier = _MODIFIER.match(term)
                if modifier is None:
                    raise _SpfError("permerror", "syntax", term)
                if modifier.group(1).lower() == "redirect":
                    if redirect is not None:
                        raise _SpfError("permerror", "syntax", term)
                    redirect = modifier.group(2)
                continue  # exp= and unknown modifiers change nothing here (RFC 7208 6)
            qualifier, name, argument = mechanism.groups()
            if self.matches(name.lower(), argument or "", domain, (*chain, domain), term):
                return _QUALIFIER[qualifier]
        if redirect is not None:
            self.count(f"redirect={redirect}")
            result = self.check(self.expand(redirect, domain), (*chain, domain))
            if result == "none":
                raise _SpfError("permerror", "redirect_none", redirect)
            return result
        return "neutral"

    def matches(
        self, name: str, argument: str, domain: str, chain: tuple[str, ...], term: str
    ) -> bool:
        if name == "all":
            if argument:
                raise _SpfError("permerror", "syntax", term)
            return True
        if name in ("ip4", "ip6"):
            return self.in_network(argument, name, term)
        if name in ("a", "mx"):
            target, cidr4, cidr6 = _split_cidr(argument, domain, term)
            self.count(term)
            target = self.expand(target, domain)
            names = [target] if name == "a" else self.mx_hosts(target)
            prefix = cidr4 if self.ip.version == 4 else cidr6
            for host in names:
                for value in self.addresses(host):
                    if self.ip in ipaddress.ip_network(f"{value}/{prefix}", strict=False):
                        return True
            return False
        if not argument.startswith(":") and name in ("include", "exists"):
            raise _SpfError("permerror", "syntax", term)
        target = self.expand(argument[1:], domain) if argument else domain
        self.count(term)
        if name == "include":
            result = self.check(target, chain)
            if result == "none":
                raise _SpfError("permerror", "include_none", target)
            return result == "pass"
        if name == "exists":
            return bool(self.counted_query(target, "A"))
        return self.ptr_matches(target)  # ptr: discouraged, still evaluated (RFC 7208 5.5)

    def in_network(self, argument: str, name: str, term: str) -> bool:
        try:
            network = ipaddress.ip_network(argument[1:], strict=False)
        except ValueError:
            raise _SpfError("permerror", "syntax", term) from None
        if not argument.startswith(":") or network.version != (4 if name == "ip4" else 6):
            raise _SpfError("permerror", "syntax", term)
        return network.version == self.ip.version and self.ip in network

    def mx_hosts(self, domain: str) -> list[str]:
        hosts = [_mx_host(value) for value in self.counted_query(domain, "MX")]
        if len(hosts) > SPF_MX_PTR_LIMIT:
            raise _SpfError("permerror", "mx_limit", domain)
        return [host for host in hosts if host]

    def ptr_matches(self, target: str) -> bool:
        names = list(self.query(self.ip.reverse_pointer, "PTR"))[:SPF_MX_PTR_LIMIT]
        qtype = "A" if self.ip.version == 4 else "AAAA"
        for name in (n.lower().rstrip(".") for n in names):
            within = name == target or name.endswith("." + target)
            if within and valid_domain(name) and str(self.ip) in self.query(name, qtype):
                return True
        return False

    def expand(self, spec: str, domain: str) -> str:
        if "%" not in spec:
            return spec.lower().rstrip(".")
        values = {"d": domain, "o": domain, "h": domain, "i": _dotted(self.ip)}

        def one(match: re.Match[str]) -> str:
            token = match.group(0)
            if token in ("%%", "%_", "%-"):
                return {"%%": "%", "%_": " ", "%-": "%20"}[token]
            letter = token[2:-1].lower()
            if letter not in values:
                raise _SpfError("unknown", "macro", spec)
            return values[letter]

        expanded = re.sub(r"%\{[A-Za-z]\}|%%|%_|%-", one, spec)
        if "%" in expanded:
            raise _SpfError("unknown", "macro", spec)
        return expanded.lower().rstrip(".")


def _dotted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def _split_cidr(argument: str, domain: str, term: str) -> tuple[str, int, int]:
    """a[:domain][/cidr4][//cidr6] -> (domain, cidr4, cidr6)."""
    match = re.fullmatch(r"(?::([^/]+))?(?:/(\d{1,2}))?(?://(\d{1,3}))?", argument)
    if match is None:
        raise _SpfError("permerror", "syntax", term)
    cidr4, cidr6 = int(match.group(2) or 32), int(match.group(3) or 128)
    if cidr4 > 32 or cidr6 > 128:
        raise _SpfError("permerror", "syntax", term)
    return match.group(1) or domain, cidr4, cidr6


def _mx_host(value: str) -> str:
    """'10 mx.example.com.' -> 'mx.example.com'; the null MX '0 .' -> ''."""
    return value.split()[-1].lower().rstrip(".") if value.split() else ""


def suggested_spf(record: str | None, ips: Sequence[str]) -> str:
    """The record with the relay's addresses added before its final all or redirect."""
    terms = [f"ip{ipaddress.ip_address(ip).version}:{ip}" for ip in ips]
    if record is None or not (record.isascii() and record.isprintable()):
        # A record that is not plain text is replaced, never echoed into the advice.
        return " ".join(["v=spf1", *terms, "~all"])
    parts = record.split()
    last = [i for i, p in enumerate(parts) if i and (p.lower().lstrip("+-~?") == "all" or "=" in p)]
    at = last[0] if last else len(parts)
    return " ".join([*parts[:at], *terms, *parts[at:]])


# --- DKIM and DMARC tags ------------------------------------------------------------------


def tags(record: str) -> dict[str, str] | None:
    """tag=value; pairs (DKIM and DMARC share the syntax); None when malformed or duplicated."""
    found: dict[str, str] = {}
    for part in record.split(";"):
        part = part.strip()
        if not part:
            continue
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not equals or not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in found:
            return None
        found[name] = value.strip()
    return found


def dkim_public_key(record: str) -> bytes | None:
    """The decoded p= of a DKIM key record; b'' when revoked; None when not a usable record."""
    found = tags(record)
    if found is None or found.get("v", "DKIM1") != "DKIM1" or found.get("k", "rsa") != "rsa":
        return None
    if "p" not in found:
        return None
    try:
        return base64.b64decode(re.sub(r"\s", "", found["p"]), validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class Dmarc:
    policy: str
    adkim: str = "r"
    aspf: str = "r"
    record: str = ""


def parse_dmarc(record: str) -> Dmarc | None:
    """A DMARC record whose first tag is v=DMARC1 with a valid p=; None otherwise."""
    if not record.isascii():
        return None
    found = tags(record)
    if not found or next(iter(found)) != "v" or found["v"] != "DMARC1":
        return None
    policy = found.get("p", "").lower()
    adkim, aspf = found.get("adkim", "r").lower(), found.get("aspf", "r").lower()
    if policy not in ("none", "quarantine", "reject") or {adkim, aspf} - {"r", "s"}:
        return None
    return Dmarc(policy, adkim, aspf, record)


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    """DMARC identifier alignment: strict needs the same name, relaxed the same organisation."""
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if mode == "s":
        return domain == from_domain
    return organisational_domain(domain) == organisational_domain(from_domain)


# --- the diagnosis ------------------------------------------------------------------------


def diagnose(setup: SendingSetup, lookup: Lookup) -> list[Finding]:
    """Every finding about the sending setup's DNS, in the order an operator fixes them."""
    findings: list[Finding] = []
    ips = _relay_addresses(setup.relay_host, lookup, findings)
    spf_domains = dict.fromkeys([setup.from_domain, setup.return_path_domain])
    for domain in spf_domains:
        findings += _spf_findings(domain, ips, lookup)
    findings += _dkim_findings(setup, lookup)
    findings += _dmarc_findings(setup, lookup)
    for domain in dict.fromkeys(setup.inbound_domains):
        findings += _mx_findings(domain, lookup)
    for ip in ips:
        findings += _ptr_findings(ip, lookup)
    return findings


def _relay_addresses(host: str | None, lookup: Lookup, findings: list[Finding]) -> list[str]:
    if host is None:
        findings.append(Finding("relay", "outbox", Level.WARNING, "doctor_relay_outbox"))
        return []
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        ips = [*lookup(host, "A"), *lookup(host, "AAAA")]
    except DnsTimeout:
        findings.append(Finding("relay", host, Level.ERROR, "doctor_timeout", {"name": host}))
        return []
    if not ips:
        findings.append(Finding("relay", host, Level.ERROR, "doctor_relay_unresolved"))
    return ips


def _spf_findings(domain: str, ips: Sequence[str], lookup: Lookup) -> list[Finding]:
    public = [ip for ip in ips if not private_address(ip)]
    findings = [
        Finding("spf", domain, Level.WARNING, "doctor_spf_private_relay", {"ip": ip})
        for ip in ips
        if private_address(ip)
    ]
    if not public:
        if not findings:
            # No relay to judge: the record is still evaluated (limits, loops, syntax) for an
            # address from the documentation range (RFC 5737), whose pass or fail means nothing.
            result = check_spf("192.0.2.1", domain, lookup)
            findings.append(_spf_finding(domain, "", result, []))
        return findings
    results = [(ip, check_spf(ip, domain, lookup)) for ip in public]
    failing = [ip for ip, result in results if result.result != "pass"]
    for ip, result in results:
        findings.append(_spf_finding(domain, ip, result, failing))
    return findings


def _spf_finding(domain: str, ip: str, result: SpfResult, failing: Sequence[str]) -> Finding:
    params = {"ip": ip, "reason": result.reason, "detail": shown(result.detail)}
    params["lookups"] = str(result.lookups)
    publish = f'{domain}. TXT "{suggested_spf(result.record, failing)}"' if failing else None
    if not ip:  # no public relay to check against: only whether a record exists
        if result.result == "none":
            return Finding("spf", domain, Level.ERROR, "doctor_spf_none", params)
        if result.result in ("permerror", "temperror", "unknown"):
            return _spf_problem(domain, result, params, None)
        return Finding("spf", domain, Level.OK, "doctor_spf_present", params)
    if result.result == "pass":
        return Finding("spf", domain, Level.OK, "doctor_spf_pass", params)
    if result.result == "none":
        return Finding("spf", domain, Level.ERROR, "doctor_spf_none", params, publish)
    if result.result in ("softfail", "neutral"):
        params["result"] = result.result
        return Finding("spf", domain, Level.WARNING, "doctor_spf_not_covered", params, publish)
    if result.result == "fail":
        return Finding("spf", domain, Level.ERROR, "doctor_spf_fail", params, publish)
    return _spf_problem(domain, result, params, publish)


def _spf_problem(
    domain: str, result: SpfResult, params: dict[str, str], publish: str | None
) -> Finding:
    if result.result == "temperror":
        return Finding("spf", domain, Level.ERROR, "doctor_spf_temperror", params)
    if result.result == "unknown":
        return Finding("spf", domain, Level.WARNING, "doctor_spf_macro", params)
    code = {
        "lookup_limit": "doctor_spf_lookup_limit",
        "void_limit": "doctor_spf_void_limit",
        "loop": "doctor_spf_loop",
        "multiple": "doctor_spf_multiple",
    }.get(result.reason, "doctor_spf_permerror")
    return Finding("spf", domain, Level.ERROR, code, params, publish)


def _dkim_findings(setup: SendingSetup, lookup: Lookup) -> list[Finding]:
    if not (setup.dkim_domain and setup.dkim_selector and setup.dkim_record):
        return [Finding("dkim", setup.from_domain, Level.ERROR, "doctor_dkim_unsigned")]
    name = f"{setup.dkim_selector}._domainkey.{setup.dkim_domain}".lower()
    publish = f'{name}. TXT "{setup.dkim_record}"'
    try:
        txts = lookup(name, "TXT")
    except DnsTimeout:
        return [Finding("dkim", name, Level.ERROR, "doctor_timeout", {"name": name})]
    if not txts:
        return [Finding("dkim", name, Level.ERROR, "doctor_dkim_missing", {}, publish)]
    if len(txts) > 1:
        return [Finding("dkim", name, Level.ERROR, "doctor_dkim_multiple", {}, publish)]
    expected = dkim_public_key(setup.dkim_record)
    published = dkim_public_key(txts[0])
    params = {"found": shown(txts[0])}
    if published is None:
        return [Finding("dkim", name, Level.ERROR, "doctor_dkim_malformed", params, publish)]
    if published == b"":
        return [Finding("dkim", name, Level.ERROR, "doctor_dkim_revoked", params, publish)]
    if published != expected:
        return [Finding("dkim", name, Level.ERROR, "doctor_dkim_mismatch", params, publish)]
    return [Finding("dkim", name, Level.OK, "doctor_dkim_match")]


def _dmarc_findings(setup: SendingSetup, lookup: Lookup) -> list[Finding]:
    domain = setup.from_domain
    names = dict.fromkeys([f"_dmarc.{domain}", f"_dmarc.{organisational_domain(domain)}"])
    publish = f'_dmarc.{domain}. TXT "v=DMARC1; p=none; adkim=r; aspf=r"'
    found: list[str] = []
    try:
        for name in names:
            found = [text for text in lookup(name, "TXT") if text[:8].lower() == "v=dmarc1"]
            if found:
                break
    except DnsTimeout:
        return [Finding("dmarc", domain, Level.ERROR, "doctor_timeout", {"name": name})]
    if not found:
        return [Finding("dmarc", domain, Level.ERROR, "doctor_dmarc_missing", {}, publish)]
    if len(found) > 1:
        return [Finding("dmarc", domain, Level.ERROR, "doctor_dmarc_multiple", {}, publish)]
    policy = parse_dmarc(found[0])
    if policy is None:
        params = {"found": shown(found[0])}
        return [Finding("dmarc", domain, Level.ERROR, "doctor_dmarc_malformed", params, publish)]
    params = {"policy": policy.policy, "adkim": policy.adkim, "aspf": policy.aspf}
    findings = [Finding("dmarc", domain, Level.OK, "doctor_dmarc_present", params)]
    dkim_ok = bool(setup.dkim_domain) and aligned(str(setup.dkim_domain), domain, policy.adkim)
    spf_ok = aligned(setup.return_path_domain, domain, policy.aspf)
    params = {
        **params,
        "dkim_domain": setup.dkim_domain or "-",
        "return_path": setup.return_path_domain,
    }
    if dkim_ok and spf_ok:
        findings.append(Finding("dmarc", domain, Level.OK, "doctor_dmarc_aligned", params))
    elif dkim_ok or spf_ok:
        code = "doctor_dmarc_spf_unaligned" if dkim_ok else "doctor_dmarc_dkim_unaligned"
        findings.append(Finding("dmarc", domain, Level.WARNING, code, params))
    else:
        findings.append(Finding("dmarc", domain, Level.ERROR, "doctor_dmarc_unaligned", params))
    return findings


def _mx_findings(domain: str, lookup: Lookup) -> list[Finding]:
    publish = f"{domain}. MX 10 <the host running notifier inbound>."
    try:
        hosts = [_mx_host(value) for value in lookup(domain, "MX")]
        if not hosts:
            fallback = [*lookup(domain, "A"), *lookup(domain, "AAAA")]
            code, level = ("doctor_mx_implicit", Level.WARNING) if fallback else (
                "doctor_mx_missing", Level.ERROR)  # fmt: skip
            return [Finding("mx", domain, level, code, {}, publish)]
        if hosts == [""]:
            return [Finding("mx", domain, Level.ERROR, "doctor_mx_null", {}, publish)]
        reachable = [h for h in hosts if valid_domain(h) and [*lookup(h, "A"), *lookup(h, "AAAA")]]
    except DnsTimeout:
        return [Finding("mx", domain, Level.ERROR, "doctor_timeout", {"name": domain})]
    params = {"hosts": shown(", ".join(hosts))}
    if not reachable:
        return [Finding("mx", domain, Level.ERROR, "doctor_mx_unresolved", params, publish)]
    return [Finding("mx", domain, Level.OK, "doctor_mx_ok", params)]


def _ptr_findings(ip: str, lookup: Lookup) -> list[Finding]:
    if private_address(ip):
        return []
    reverse = ipaddress.ip_address(ip).reverse_pointer
    qtype = "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"
    try:
        names = [n.lower().rstrip(".") for n in lookup(reverse, "PTR")][:SPF_MX_PTR_LIMIT]
        if not names:
            return [Finding("ptr", ip, Level.WARNING, "doctor_ptr_missing", {"ip": ip})]
        confirmed = [n for n in names if valid_domain(n) and ip in lookup(n, qtype)]
    except DnsTimeout:
        return [Finding("ptr", ip, Level.WARNING, "doctor_timeout", {"name": reverse})]
    params = {"ip": ip, "names": shown(", ".join(names))}
    if not confirmed:
        return [Finding("ptr", ip, Level.WARNING, "doctor_ptr_mismatch", params)]
    return [Finding("ptr", ip, Level.OK, "doctor_ptr_ok", {**params, "names": confirmed[0]})]


def worst(findings: Sequence[Finding]) -> Level:
    levels = {f.level for f in findings}
    return next((lvl for lvl in (Level.ERROR, Level.WARNING) if lvl in levels), Level.OK)
