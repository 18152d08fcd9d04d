"""The value types of the API bodies: each one validates a value and documents the same rule.

A type here is the one statement of a rule: pydantic checks requests with it and writes it into
the OpenAPI document, so the document can be neither looser nor stricter than the server. Values
that depend on the running instance (the profile's purposes, the notice types in the database)
are read when a request is checked and when the document is generated, from the same function.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from flask import has_app_context
from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from notifier.domain.addresses import MAX_LENGTH, InvalidAddress, normalise_email
from notifier.domain.profile import LOCALES
from notifier.domain.subscriptions import EXTERNAL_ID, renewal_url_problem
from notifier.infra.context import profile

MAX_ID = 2_147_483_647
# Printable text on one line: no control characters reach a header, a column or a log line.
LINE = r"^[^\x00-\x1f\x7f]*$"
# Multi-line text: tabs and line breaks allowed, other control characters not.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# At least one visible character (the services strip names and refuse an empty one).
NAMED = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
EXTERNAL_REF = r"^[A-Za-z0-9_:@+-][A-Za-z0-9._:@+-]{0,99}$"
KEY = r"^[a-z0-9_]{1,64}$"
# The service lowercases tags and checks them again: İ (U+0130) is the one word character whose
# lowercase (i + a combining dot) is no longer one, so it is left out here.
TAG = r"^(?:[^\W\u0130]|[.-]){1,64}$"
# contacts.PHONE, without the surrounding spaces the service would strip: digits and + ( ) - .
PHONE = r"^(\+?[0-9().-][0-9 ().-]{4,18}[0-9().-])?$"
# A real calendar date from 1900 to 2999: a wider year only ever comes from a mistake, and
# Python's datetime cannot hold year 0 nor move year 1 or 9999 across an offset.
YEAR = r"(?:19[0-9]{2}|2[0-9]{3})"
LEAP_YEAR = (
    r"(?:19(?:0[48]|[2468][048]|[13579][26])|2[0-9](?:0[48]|[2468][048]|[13579][26])|2[048]00)"
)
GREGORIAN = (
    rf"(?:{YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{LEAP_YEAR}-02-29)"
)
CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
# RFC 3339 (what JSON Schema calls date-time): seconds and an offset are required.
DATE_TIME = rf"^{GREGORIAN}[Tt]{CLOCK}:(?:[0-5][0-9])(?:\.[0-9]{{1,6}})?(?:[Zz]|[+-]{CLOCK})$"
DATE = rf"^{GREGORIAN}$"
# A wall-clock time without an offset, read in a time zone: seconds optional, no fractions.
LOCAL_DATE_TIME = rf"^{GREGORIAN}[Tt ]{CLOCK}(?::[0-5][0-9])?$"
# A number written as text, as billing systems often send amounts.
NUMERIC_TEXT = r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$"
# Names email-validator refuses after the @ (RFC 6761 special-use domains), case-insensitive
# without inline flags, which ECMA-262 patterns lack.
SPECIAL_USE = "|".join(
    "".join(f"[{c.upper()}{c}]" for c in name)
    for name in ("arpa", "invalid", "local", "localhost", "onion", "test")
)
# The addresses normalise_email (email-validator) accepts, as a pattern: a dot-atom of at most
# 64 characters before the @; host labels without a leading or trailing hyphen, a last label
# ending with a letter, no special-use domain, no "ab--" label but Punycode's "xn--". Letters
# beyond ASCII stay allowed on both sides (Vietnamese names and IDN domains).
_ATEXT = "a-zA-Z0-9_!#$%&'*+/=?^`{|}~\\-\\u0080-\\uffff"
_ALNUM = "A-Za-z0-9\\u0080-\\uffff"
_LABEL = rf"[{_ALNUM}](?:[{_ALNUM}-]{{0,61}}[{_ALNUM}])?"
_LAST = rf"(?:[A-Za-z\u0080-\uffff]|[{_ALNUM}][{_ALNUM}-]{{0,61}}[A-Za-z\u0080-\uffff])"
EMAIL = (
    r"^(?=[^@]{1,64}@)"
    rf"(?![^@]*@(?:[^@]*\.)?(?:{SPECIAL_USE})$)"
    r"(?![^@]*@(?:[^@]*\.)?(?![Xx][Nn])[A-Za-z0-9]{2}--)"
    rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?:{_LABEL}\.)+{_LAST}$"
)
NOT_ALLOWED = "contains control characters or characters not allowed here"
# An amount of money as text, so no float rounds it: up to 15 digits and 4 decimals.
AMOUNT = r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,4})?$"
# https, a host name with a dot, no port, no user: printable ASCII only (percent-encode the
# rest). What notifier/domain/subscriptions.renewal_url_problem accepts, as a pattern.
RENEWAL_URL = r"^https://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+([/?#][\x21-\x7e]*)?$"


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("notifier", message)


def pattern_check(regex: str, message: str = NOT_ALLOWED) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise _fail(message)
        return value

    return check


def _as_json(value: Any) -> Any:
    """Dates and times go back out as the text they came in as (ISO 8601)."""
    return value.isoformat() if isinstance(value, date | datetime) else value


class Rule:
    """A string checked by a function, documented by a JSON Schema fragment: both declared here.

    `choices` makes it an enum read from the running instance; without an app (the document
    built at import time) the values cannot be known and the fragment is used alone.
    """

    def __init__(
        self,
        schema: dict[str, Any],
        check: Callable[[str], Any] | None = None,
        choices: Callable[[], Iterable[str]] | None = None,
        unknown: Callable[[str], str] | None = None,
    ) -> None:
        self.schema, self.check, self.choices, self.unknown = schema, check, choices, unknown

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_after_validator_function(
            self._validate,
            core_schema.str_schema(strict=True),
            serialization=core_schema.plain_serializer_function_ser_schema(_as_json),
        )

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        result = {"type": "string", **self.schema}
        if self.choices is not None and has_app_context():
            result["enum"] = sorted(self.choices())
        return result

    def _validate(self, value: str) -> Any:
        if self.choices is not None and value not in set(self.choices()):
            message = self.unknown(value) if self.unknown else f"unknown value {value!r}"
            raise _fail(message)
        if self.check is not None:
            return self.check(value)
        return value


class KeyedValues:
    """A dict whose keys follow a pattern, documented with propertyNames: pydantic writes
    patternProperties, which leaves other keys free, and the server does not."""

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        result = handler.resolve_ref_schema(handler(schema))
        for pattern, values in result.pop("patternProperties", {}).items():
            result["propertyNames"] = {**result.get("propertyNames", {}), "pattern": pattern}
            result["additionalProperties"] = values
        return result


def line(max_length: int, min_length: int = 0, **extra: Any) -> Rule:
    """One line of printable text: `Annotated[str, line(200)]`."""
    return Rule(
        {"minLength": min_length, "maxLength": max_length, "pattern": LINE, **extra},
        _limits(min_length, max_length, LINE),
    )


def named(max_length: int, **extra: Any) -> Rule:
    """A name: one line with at least one visible character."""
    return Rule(
        {"minLength": 1, "maxLength": max_length, "pattern": NAMED, **extra},
        _limits(1, max_length, NAMED, "is required: write at least one visible character"),
    )


def matching(regex: str, max_length: int) -> Rule:
    """Text of at most `max_length` characters, at least one, that `regex` accepts whole."""
    return Rule(
        {"minLength": 1, "maxLength": max_length, "pattern": regex},
        _limits(1, max_length, regex, "is required, on one line, without control characters"),
    )


def multiline(max_length: int, min_length: int = 0) -> Rule:
    """Text of several lines (templates): tabs and line breaks, no other control character."""
    return Rule(
        {"minLength": min_length, "maxLength": max_length, "pattern": TEXT},
        _limits(min_length, max_length, TEXT),
    )


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(**extra: Any) -> Any:
    """A field that may be left out but, when given, may not be null."""
    return Field(default=None, json_schema_extra=_no_default, **extra)


def _limits(
    min_length: int, max_length: int, regex: str, message: str = NOT_ALLOWED
) -> Callable[[str], str]:
    pattern = pattern_check(regex, message)

    def check(value: str) -> str:
        if len(value) > max_length:
            raise _fail(f"is longer than {max_length} characters")
        if len(value) < min_length:
            raise _fail("is required" if min_length == 1 else f"needs {min_length} characters")
        return pattern(value)

    return check


def _email(value: str) -> str:
    if len(value) > MAX_LENGTH:
        raise _fail(f"the email address is longer than {MAX_LENGTH} characters")
    if not re.match(EMAIL, value):
        try:
            normalise_email(value)  # its words say best what is wrong, when it sees it
        except InvalidAddress as exc:
            raise _fail(str(exc)) from None
        raise _fail("use an address with a public domain name, e.g. an@example.com")
    try:
        return normalise_email(value)
    except InvalidAddress as exc:
        raise _fail(str(exc)) from None


def _date(value: str) -> date:
    if not re.match(DATE, value):
        raise _fail(f"{value!r} is not a date (YYYY-MM-DD)")
    return date.fromisoformat(value)


def _date_time(value: str) -> datetime:
    if not re.match(DATE_TIME, value):
        raise _fail("use RFC 3339 with an offset, e.g. 2026-05-01T09:00:00+07:00")
    return datetime.fromisoformat(value.upper())


def _ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise _fail(f"{value!r} is not an IPv4 or IPv6 address") from None
    return value


@cache
def time_zones() -> frozenset[str]:
    """The IANA zones this machine knows: the same set for the check and the document."""
    return frozenset(available_timezones())


def purposes() -> list[str]:
    return [p.key for p in profile().purposes]


def service_purposes() -> list[str]:
    return [p.key for p in profile().purposes if not p.is_advertising]


Email = Annotated[
    str,
    Rule({"format": "email", "maxLength": MAX_LENGTH, "pattern": EMAIL}, _email),
]
ExternalRef = Annotated[
    str,
    Rule(
        {
            "pattern": EXTERNAL_REF,
            "description": "Your own id of the customer (billing account): letters, digits, "
            ". _ : @ + -, at most 100.",
        },
        pattern_check(EXTERNAL_REF, "use letters, digits and . _ : @ + - only, 100 at most"),
    ),
]
Locale = Annotated[
    str,
    Rule(
        {"enum": list(LOCALES)},
        choices=lambda: LOCALES,
        unknown=lambda v: f"must be one of {', '.join(LOCALES)}",
    ),
]
DateText = Annotated[
    date,
    Rule({"format": "date", "pattern": DATE, "description": "YYYY-MM-DD, 1900 to 2999."}, _date),
]
DateTimeText = Annotated[
    datetime,
    Rule(
        {
            "format": "date-time",
            "pattern": DATE_TIME,
            "description": "RFC 3339 with seconds and an offset, e.g. 2026-08-01T09:00:00+07:00 "
            "(years 1900 to 2999).",
        },
        _date_time,
    ),
]
LocalOrOffsetTime = Annotated[
    str,
    Rule(
        {
            "anyOf": [{"format": "date-time", "pattern": DATE_TIME}, {"pattern": LOCAL_DATE_TIME}],
            "description": "RFC 3339 with an offset, or a wall-clock time (YYYY-MM-DDTHH:MM[:SS], "
            "no offset) read in time_zone, or in the campaign's zone without one.",
        },
        pattern_check(
            f"{DATE_TIME}|{LOCAL_DATE_TIME}",
            "use RFC 3339 with an offset (2026-05-01T09:00:00+07:00) or a local "
            "2026-05-01T09:00 with time_zone",
        ),
    ),
]
TimeZone = Annotated[
    str,
    Rule(
        {"description": "An IANA time zone, e.g. Asia/Ho_Chi_Minh."},
        choices=time_zones,
        unknown=lambda v: f"unknown time zone {v!r}",
    ),
]
Purpose = Annotated[
    str,
    Rule(
        {"description": "A purpose of the active policy profile."},
        choices=purposes,
        unknown=lambda v: f"unknown purpose {v!r}",
    ),
]
ServicePurpose = Annotated[
    str,
    Rule(
        {"description": "A service (not advertising) purpose of the active policy profile."},
        choices=service_purposes,
        unknown=lambda v: f"{v!r} is not a service purpose: notices are service mail",
    ),
]
Key = Annotated[
    str, Rule({"pattern": KEY}, pattern_check(KEY, "use a-z, 0-9 and _ only, 64 at most"))
]
Tag = Annotated[
    str,
    Rule(
        {"pattern": TAG},
        pattern_check(TAG, "letters, digits, . _ - only, 64 at most"),
    ),
]
Phone = Annotated[
    str,
    Rule(
        {"maxLength": 20, "pattern": PHONE},
        pattern_check(PHONE, "use digits, spaces and + ( ) - only, 6 to 20 characters"),
    ),
]
IpAddress = Annotated[str, Rule({"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}, _ip)]


class WholeNumber:
    """JSON Schema's integer: 7 and 7.0 alike (JSON does not tell them apart), never "7" or
    true; pydantic's strict int would refuse 7.0, its lax one would take "7"."""

    def __init__(self, minimum: int, maximum: int) -> None:
        self.minimum, self.maximum = minimum, maximum

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_plain_validator_function(
            self._validate, serialization=core_schema.plain_serializer_function_ser_schema(int)
        )

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}

    def _validate(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail("must be a whole number")
        return self._in_range(value)

    def _in_range(self, value: int) -> int:
        if not self.minimum <= value <= self.maximum:
            raise _fail(f"must be between {self.minimum} and {self.maximum}")
        return value


Id = Annotated[int, WholeNumber(1, MAX_ID)]


def _renewal_url(value: str) -> str:
    if len(value) > 2000:
        raise _fail("is longer than 2000 characters")
    problem = renewal_url_problem(value)
    if problem:
        raise _fail(problem)
    if not re.match(RENEWAL_URL, value):
        raise _fail("use https://host.name/path with printable ASCII only, no port or user")
    return value


def _amount(value: str) -> Decimal:
    if not re.match(AMOUNT, value):
        raise _fail('write the amount as text, e.g. "1250000" or "19.99" (4 decimals at most)')
    return Decimal(value)


RenewalUrl = Annotated[
    str,
    Rule(
        {
            "format": "uri",
            "maxLength": 2000,
            "pattern": RENEWAL_URL,
            "description": "https only, e.g. https://billing.example.vn/renew/123.",
        },
        _renewal_url,
    ),
]
Amount = Annotated[
    Decimal,
    Rule(
        {
            "pattern": AMOUNT,
            "description": 'A decimal number as text (no float rounding), e.g. "1250000".',
        },
        _amount,
    ),
]
SubscriptionId = Annotated[
    str,
    Rule(
        {
            "pattern": EXTERNAL_ID,
            "description": "Your own id of the subscription: letters, digits, . _ : @ + -, "
            "at most 100.",
        },
        pattern_check(EXTERNAL_ID, "use letters, digits and . _ : @ + - only, 100 at most"),
    ),
]
