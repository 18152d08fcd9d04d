"""The services a contact holds (a domain, a hosting plan, a server): the rules on their values,
which status may follow which, and which one a renewal campaign is about.

Pure: the caller passes `today` (the campaign's date in its time zone) and plain values; the
models, the API and the importer all check a row through `check_fields`, so the three refuse the
same things with the same words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from notifier.domain.errors import DomainError


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    RENEWED = "renewed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


KINDS = ("domain", "hosting", "server", "email", "ssl", "software", "other")
# Which status may follow which. Cancelled is final: a customer who comes back gets a new
# service in billing, with a new external id, so the old one's history stays true.
TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    SubscriptionStatus.ACTIVE: frozenset(
        {SubscriptionStatus.RENEWED, SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED}
    ),
    SubscriptionStatus.RENEWED: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED}
    ),
    SubscriptionStatus.EXPIRED: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.RENEWED, SubscriptionStatus.CANCELLED}
    ),
    SubscriptionStatus.CANCELLED: frozenset(),
}
EXTERNAL_ID = r"^[A-Za-z0-9_:@+-][A-Za-z0-9._:@+-]{0,99}$"
CURRENCY = r"^[A-Z]{3}$"
MAX_NAME = 200
MAX_PLAN = 100
MAX_URL = 2000
MAX_AMOUNT = Decimal("999999999999999")  # 15 digits: more than any invoice, less than NUMERIC
AMOUNT_PLACES = 4  # ISO 4217 minor units go up to 4 (CLF); VND has none
# Free fields for templates, bounded so one row cannot bloat every batch that loads it: at most
# 20 fields of at most 32 characters, text values of at most 100 (about 9 KB at worst).
MAX_ATTRIBUTES = 20
MAX_ATTRIBUTE_TEXT = 100
ATTRIBUTE_KEY = r"^[a-z][a-z0-9_]{0,31}$"
# The ISO 4217 codes in use (2026), less the funds and metals codes no invoice is written in.
_CODES = """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"""
CURRENCIES = frozenset(_CODES.split())
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
# A URL renewal_url_problem needs no parsing to pass: https://, a host name with a dot (no port,
# no user), then printable ASCII after the first / ? or #. Any other goes through urlsplit.
_PLAIN_HTTPS = re.compile(r"https://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:[/?#][\x21-\x7e]*)?")
_ATTRIBUTE_KEY = re.compile(ATTRIBUTE_KEY)
_STATUSES = frozenset(SubscriptionStatus)


class InvalidTransition(DomainError):
    def __init__(self, old: str, new: str) -> None:
        super().__init__(f"a {old} subscription cannot become {new}")
        self.old, self.new = old, new


def check_transition(old: str | None, new: str) -> SubscriptionStatus:
    """The status `new` may follow `old` (None: a new subscription, any status but cancelled
    is a fine start, and cancelled too: billing may tell us of one it already ended)."""
    target = SubscriptionStatus(new)
    if old is None or old == new:
        return target
    if target not in TRANSITIONS[SubscriptionStatus(old)]:
        raise InvalidTransition(old, new)
    return target


def renewal_url_problem(url: str) -> str | None:
    """https only, with a host and no credentials: the link goes into mail a customer trusts,
    so javascript:, data:, http: and user:password@ tricks are refused, not escaped."""
    if len(url) > MAX_URL:
        return f"is longer than {MAX_URL} characters"
    if _PLAIN_HTTPS.fullmatch(url):
        return None
    if _CONTROL.search(url) or any(c.isspace() for c in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    del port
    if parts.scheme.lower() != "https":
        return "must be an https:// URL"
    if not parts.hostname or "." not in parts.hostname:
        return "needs a host name, e.g. https://billing.example.vn/renew/123"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    return None


def amount_problem(amount: Decimal) -> str | None:
    if not amount.is_finite():
        return "must be a number"
    if amount < 0:
        return "must not be negative"
    if amount > MAX_AMOUNT:
        return f"must be at most {MAX_AMOUNT}"
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > AMOUNT_PLACES:
        return f"has more than {AMOUNT_PLACES} decimal places"
    return None


def parse_amount(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None


def attributes_problem(attributes: Mapping[str, Any]) -> str | None:
    """Flat, few and small (see MAX_ATTRIBUTES)."""
    if len(attributes) > MAX_ATTRIBUTES:
        return f"has more than {MAX_ATTRIBUTES} fields"
    for key, value in attributes.items():
        if not _ATTRIBUTE_KEY.match(key):
            return f"field name {key[:40]!r}: use a-z, 0-9 and _, 32 at most, a letter first"
        if value is not None and not isinstance(value, str | int | float | bool):
            return f"field {key!r}: only text, numbers, true/false or null"
        if isinstance(value, str) and _CONTROL.search(value):
            return f"field {key!r} contains control characters"
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_TEXT:
            return f"field {key!r} is longer than {MAX_ATTRIBUTE_TEXT} characters"
        if isinstance(value, float) and not math.isfinite(value):
            return f"field {key!r} must be a finite number"
    return None


def check_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    """Every problem of one row's values, by field; the values are already of their types."""
    problems: dict[str, str] = {}
    kind = fields.get("kind")
    if kind is not None and kind not in KINDS:
        problems["kind"] = f"must be one of {', '.join(KINDS)}"
    for name, limit in (("name", MAX_NAME), ("plan", MAX_PLAN)):
        text = fields.get(name)
        if isinstance(text, str):
            if len(text) > limit:
                problems[name] = f"is longer than {limit} characters"
            elif _CONTROL.search(text):
                problems[name] = "contains control characters"
    if not str(fields.get("name", "x")).strip():
        problems["name"] = "is required"
    currency = fields.get("currency")
    if currency is not None and currency not in CURRENCIES:
        problems["currency"] = "must be an ISO 4217 code in use, e.g. VND or USD"
    amount = fields.get("amount")
    if isinstance(amount, Decimal) and (problem := amount_problem(amount)):
        problems["amount"] = problem
    url = fields.get("renewal_url")
    if isinstance(url, str) and (problem := renewal_url_problem(url)):
        problems["renewal_url"] = problem
    status = fields.get("status")
    if status is not None and status not in _STATUSES:
        problems["status"] = f"must be one of {', '.join(SubscriptionStatus)}"
    attributes = fields.get("attributes")
    if isinstance(attributes, Mapping) and (problem := attributes_problem(attributes)):
        problems["attributes"] = problem
    return problems


@dataclass(frozen=True)
class Held:
    """What the window rule needs of one subscription."""

    id: int
    status: str
    expires_on: date | None


def in_window(held: Held, today: date, days: int) -> bool:
    """Active and expiring from today to `days` days later, both ends included. An expired or
    renewed one is not: the customer has nothing to renew, or has done it."""
    if held.status != SubscriptionStatus.ACTIVE or held.expires_on is None:
        return False
    return today <= held.expires_on <= today + timedelta(days=days)


def expiring(held: Iterable[Held], today: date, days: int) -> Held | None:
    """The one a renewal campaign is about: the soonest to expire in the window (then the
    oldest row), so two campaigns a day apart pick the same one."""
    candidates = [h for h in held if in_window(h, today, days)]
    if not candidates:
        return None
    return min(candidates, key=lambda h: (h.expires_on, h.id))


def renewal_fields(expiring: Mapping[str, Any]) -> dict[str, Any]:
    """The expiring subscription under the flat names a renewal notice's data uses
    (service_name, account_ref, expires_on, amount, currency, renew_url): so the built-in
    renewal layout, written for notices, shows each campaign recipient their own service
    instead of the campaign data's sample."""
    return {
        "service_name": expiring.get("name", ""),
        "account_ref": expiring.get("external_id", ""),
        "expires_on": expiring.get("expires_on", ""),
        "amount": expiring.get("amount", ""),
        "currency": expiring.get("currency", ""),
        "renew_url": expiring.get("renewal_url", ""),
    }
