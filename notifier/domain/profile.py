"""Policy profiles: what a company's privacy policy lets notifier do, loaded from TOML."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from notifier.domain.send_time import QuietHours, parse_quiet_hours, zone_of

LOCALES = ("vi", "en")


class PurposeKind(StrEnum):
    ADVERTISING = "advertising"
    SERVICE = "service"


class LegalBasis(StrEnum):
    CONSENT = "consent"  # needs a recorded opt-in (all advertising)
    CONTRACT = "contract"  # service mail to customers; the person may still object
    LEGAL_OBLIGATION = "legal_obligation"


class RetentionRule(StrEnum):
    CONTRACT_END = "contract_end"
    ON_REQUEST = "on_request"


# Every contact field a role may be granted; "consent", "deliveries", "deal" and
# "subscriptions" (the services the contact holds, with their fees) are groups.
CONTACT_FIELDS = frozenset(
    {
        "email", "name", "phone", "address", "locale", "time_zone", "external_ref",
        "contract_ends_on", "national_id", "birth_date", "contact_person", "organisation",
        "attributes", "tags", "deal", "consent", "deliveries", "privacy_requests",
        "subscriptions",
    }
)  # fmt: skip

SELF_EDITABLE_FIELDS = frozenset(
    {"email", "name", "phone", "address", "national_id", "birth_date", "contact_person",
     "organisation", "locale"}
)  # fmt: skip

PERMISSIONS = frozenset(
    {
        "contacts.view", "contacts.edit", "contacts.import", "contacts.export",
        "consent.view", "consent.record_refusal", "campaigns.view", "campaigns.manage",
        "templates.manage", "notices.manage", "apikeys.manage", "privacy.handle",
        "audit.view", "staff.manage", "settings.view", "authority.export", "outbox.view",
        "deliverability.view",
        "webhooks.manage",
        # One person's opens and clicks (docs/tracking.md); a campaign's counts need campaigns.view.
        "contacts.engagement",
    }
)  # fmt: skip

BUILTIN_ROLES: dict[str, dict[str, Any]] = {
    "admin": {
        "name": {"vi": "Quản trị viên", "en": "Administrator"},
        "permissions": sorted(PERMISSIONS),
        "contact_fields": sorted(CONTACT_FIELDS),
        # Holds every permission, the authority export included: a stolen password is not enough.
        "require_two_factor": True,
    },
    "marketing": {
        "name": {"vi": "Tiếp thị", "en": "Marketing"},
        "permissions": [
            "contacts.view", "contacts.import", "consent.view", "campaigns.view",
            "campaigns.manage", "templates.manage", "notices.manage", "outbox.view",
        ],
        "contact_fields": [
            "email", "name", "locale", "time_zone", "tags", "attributes", "consent", "deliveries",
        ],
    },
}  # fmt: skip


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file, the key and the problem."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}")
        self.path, self.key, self.problem = str(path), key, problem


@dataclass(frozen=True)
class Localized:
    vi: str
    en: str

    def get(self, locale: str) -> str:
        return self.en if locale == "en" else self.vi


# Tracking flags, as a delivery row records them (deliveries.tracking).
TRACK_CLICKS, TRACK_OPENS = 1, 2


@dataclass(frozen=True)
class Tracking:
    """What a purpose's mail tracks, and which consent notice versions disclose it."""

    clicks: bool
    opens: bool
    notice_versions: frozenset[str]

    def flags_for(self, notice_version: str | None) -> int:
        """The tracking of a contact who agreed to this notice version: 0 unless it disclosed it."""
        if notice_version is None or notice_version not in self.notice_versions:
            return 0
        return (TRACK_CLICKS if self.clicks else 0) | (TRACK_OPENS if self.opens else 0)


@dataclass(frozen=True)
class Purpose:
    key: str
    kind: PurposeKind
    legal_basis: LegalBasis
    name: Localized
    notice: Localized
    notice_version: str
    frequency: Localized
    max_per_week: int | None
    list_id: str
    # The purpose's finished campaigns on a public page, rendered for a sample person
    # (docs/web-view.md); advertising purposes only, off unless the profile turns it on.
    public_archive: bool = False
    # Open and click tracking, only for the consent notice versions that disclose it
    # (docs/tracking.md); None: nobody's mail of this purpose is tracked.
    tracking: Tracking | None = None

    @property
    def is_advertising(self) -> bool:
        return self.kind is PurposeKind.ADVERTISING

    def notice_hash(self, locale: str) -> str:
        return text_hash(self.notice.get(locale))


@dataclass(frozen=True)
class NoticeTypeSpec:
    """A notice type the profile ships: its template is a built-in layout, or a subject and a
    text (Jinja, bilingual with t()) that setup wraps in a plain MJML body. A type with its own
    text brings sample data per locale ([notice_types.sample.vi] and .en, the layouts' format),
    so it can be previewed and tested; a layout's type uses the layout's samples."""

    key: str
    name: Localized
    purpose: str
    layout: str | None = None
    subject: str | None = None
    text: str | None = None
    sample: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Role:
    key: str
    name: Localized
    permissions: frozenset[str]
    contact_fields: frozenset[str]
    require_two_factor: bool = False


@dataclass(frozen=True)
class Identity:
    """Decree 91/2020 Art 19: shown right before the refusal section of every advertising email."""

    company: str
    phone: str
    email: str
    address: str
    website: str
    from_address: str
    from_name: str
    unsubscribe_mailbox: str


@dataclass(frozen=True)
class Retention:
    rule: RetentionRule
    grace_days: int
    records_min_days: int
    # contract_end only: tell the customer on the end day before the purge erases their data.
    notify: bool = False


# Channels a quiet-hours window may name. The product sends email only; Decree 91/2020 rules
# advertising SMS and calls by the hour, so those two always have a window (docs/send-time.md).
QUIET_CHANNELS = ("email", "sms", "phone")
HOUR_RULED_WINDOW = "22:00-08:00"


@dataclass(frozen=True)
class QuietHoursPolicy:
    """Local hours in which no advertising leaves, per channel; email only where the profile
    asks (`[quiet_hours] email = "22:00-08:00"`). Service mail is never held."""

    email: QuietHours | None = None
    sms: QuietHours = field(default_factory=lambda: parse_quiet_hours(HOUR_RULED_WINDOW))
    phone: QuietHours = field(default_factory=lambda: parse_quiet_hours(HOUR_RULED_WINDOW))


@dataclass(frozen=True)
class Profile:
    key: str
    name: str
    path: str
    identity: Identity
    purposes: tuple[Purpose, ...]
    roles: tuple[Role, ...]
    retention: Retention
    self_editable: frozenset[str]
    verified_fields: frozenset[str]
    advertising_label: str = "[QC]"
    default_locale: str = "vi"
    default_time_zone: str = "Asia/Ho_Chi_Minh"
    scope: Localized = field(default_factory=lambda: Localized("", ""))
    notice_types: tuple[NoticeTypeSpec, ...] = ()
    quiet_hours: QuietHoursPolicy = field(default_factory=QuietHoursPolicy)

    def purpose(self, key: str) -> Purpose:
        for purpose in self.purposes:
            if purpose.key == key:
                return purpose
        raise KeyError(key)

    def role(self, key: str) -> Role:
        for role in self.roles:
            if role.key == key:
                return role
        raise KeyError(key)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Reader:
    """Walks the parsed TOML, turning every missing or mistyped value into a ProfileError."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> ProfileError:
        return ProfileError(self.path, key.lstrip("."), problem)

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, "must be a table")
        return data

    def get(self, data: dict[str, Any], key: str, name: str, kind: type, default: Any = ...) -> Any:
        if name not in data:
            if default is ...:
                raise self.fail(f"{key}.{name}".lstrip("."), "is missing")
            return default
        value = data[name]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise self.fail(f"{key}.{name}".lstrip("."), f"must be a {kind.__name__}")
        if isinstance(value, str) and not value.strip():
            raise self.fail(f"{key}.{name}".lstrip("."), "must not be empty")
        return value

    def localized(self, data: dict[str, Any], key: str, name: str) -> Localized:
        table = self.table(self.get(data, key, name, dict), f"{key}.{name}")
        return Localized(
            vi=self.get(table, f"{key}.{name}", "vi", str),
            en=self.get(table, f"{key}.{name}", "en", str),
        )

    def choice(self, data: dict[str, Any], key: str, name: str, enum: type[StrEnum]) -> Any:
        value = self.get(data, key, name, str)
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise self.fail(f"{key}.{name}", f"{value!r} is not one of {allowed}") from None

    def names(
        self, data: dict[str, Any], key: str, name: str, allowed: frozenset[str]
    ) -> frozenset:
        values = self.get(data, key, name, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(f"{key}.{name}", "must be a list of strings")
        unknown = sorted(v for v in values if v not in allowed)
        if unknown:
            raise self.fail(f"{key}.{name}", f"unknown: {', '.join(unknown)}")
        return frozenset(values)


def load_profile(path: Path | str) -> Profile:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(path, "-", "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(path, "-", f"not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(path, "-", f"cannot be read as UTF-8 text ({exc})") from None
    reader = _Reader(path)
    purposes = _purposes(reader, raw)
    default_zone = reader.get(raw, "", "default_time_zone", str, "Asia/Ho_Chi_Minh")
    if zone_of(default_zone, "UTC").key != default_zone:
        raise reader.fail("default_time_zone", f"{default_zone!r} is not a known time zone")
    return Profile(
        key=reader.get(raw, "", "key", str),
        name=reader.get(raw, "", "name", str),
        path=str(path),
        identity=_identity(reader, raw),
        purposes=purposes,
        notice_types=_notice_types(reader, raw, purposes),
        roles=_roles(reader, raw),
        retention=_retention(reader, raw),
        self_editable=reader.names(raw, "", "self_editable_fields", SELF_EDITABLE_FIELDS),
        verified_fields=reader.names(raw, "", "verified_fields", SELF_EDITABLE_FIELDS),
        advertising_label=reader.get(raw, "", "advertising_label", str, "[QC]"),
        default_locale=reader.get(raw, "", "default_locale", str, "vi"),
        default_time_zone=default_zone,
        scope=reader.localized(raw, "", "scope") if "scope" in raw else Localized("", ""),
        quiet_hours=_quiet_hours(reader, raw),
    )


def _quiet_hours(reader: _Reader, raw: dict[str, Any]) -> QuietHoursPolicy:
    data = reader.table(reader.get(raw, "", "quiet_hours", dict, {}), "quiet_hours")
    unknown = sorted(set(data) - set(QUIET_CHANNELS))
    if unknown:
        allowed = ", ".join(QUIET_CHANNELS)
        raise reader.fail(f"quiet_hours.{unknown[0]}", f"not a channel (one of {allowed})")
    windows: dict[str, QuietHours] = {}
    for channel in data:
        text = reader.get(data, "quiet_hours", channel, str)
        try:
            windows[channel] = parse_quiet_hours(text)
        except ValueError as exc:
            raise reader.fail(f"quiet_hours.{channel}", str(exc)) from None
    return QuietHoursPolicy(**windows)


def _identity(reader: _Reader, raw: dict[str, Any]) -> Identity:
    data = reader.table(reader.get(raw, "", "identity", dict), "identity")
    names = [
        "company", "phone", "email", "address", "website", "from_address", "from_name",
        "unsubscribe_mailbox",
    ]  # fmt: skip
    values = {name: reader.get(data, "identity", name, str) for name in names}
    for name in ("email", "from_address", "unsubscribe_mailbox"):
        if "@" not in values[name] or any(c in values[name] for c in "\r\n <>"):
            raise reader.fail(f"identity.{name}", f"{values[name]!r} is not an email address")
    return Identity(**values)


def _purposes(reader: _Reader, raw: dict[str, Any]) -> tuple[Purpose, ...]:
    items = reader.get(raw, "", "purposes", list)
    if not items:
        raise reader.fail("purposes", "needs at least one purpose")
    purposes: list[Purpose] = []
    for index, item in enumerate(items):
        key = f"purposes[{index}]"
        data = reader.table(item, key)
        purpose_key = _identifier(reader, data, key)
        kind = reader.choice(data, key, "kind", PurposeKind)
        basis = reader.choice(data, key, "legal_basis", LegalBasis)
        if kind is PurposeKind.ADVERTISING and basis is not LegalBasis.CONSENT:
            raise reader.fail(f"{key}.legal_basis", "advertising needs consent (Decree 91/2020)")
        max_per_week = reader.get(data, key, "max_per_week", int, None)
        if max_per_week is not None and max_per_week < 1:
            raise reader.fail(f"{key}.max_per_week", "must be at least 1")
        public_archive = reader.get(data, key, "public_archive", bool, False)
        if public_archive and kind is not PurposeKind.ADVERTISING:
            raise reader.fail(
                f"{key}.public_archive", "only an advertising purpose has a public archive"
            )
        purposes.append(
            Purpose(
                key=purpose_key,
                kind=kind,
                legal_basis=basis,
                name=reader.localized(data, key, "name"),
                notice=reader.localized(data, key, "notice"),
                notice_version=reader.get(data, key, "notice_version", str),
                frequency=reader.localized(data, key, "frequency"),
                max_per_week=max_per_week,
                list_id=reader.get(data, key, "list_id", str),
                public_archive=public_archive,
                tracking=_tracking(reader, data, key),
            )
        )
    _unique(reader, "purposes", [p.key for p in purposes])
    return tuple(purposes)


_TRACKING_KEYS = frozenset({"clicks", "opens", "notice_versions"})


def _tracking(reader: _Reader, data: dict[str, Any], key: str) -> Tracking | None:
    """`tracking = { clicks = true, opens = false, notice_versions = ["2027-01"] }`: off when
    absent, or when it tracks nothing."""
    if "tracking" not in data:
        return None
    where = f"{key}.tracking"
    table = reader.table(data["tracking"], where)
    unknown = sorted(set(table) - _TRACKING_KEYS)
    if unknown:
        raise reader.fail(where, f"unknown key: {', '.join(unknown)}")
    clicks = reader.get(table, where, "clicks", bool, False)
    opens = reader.get(table, where, "opens", bool, False)
    versions = reader.get(table, where, "notice_versions", list)
    if not versions or not all(isinstance(v, str) and v.strip() for v in versions):
        raise reader.fail(
            f"{where}.notice_versions",
            "must list the consent notice versions that disclose tracking",
        )
    if data.get("legal_basis") != "consent":
        raise reader.fail(where, "only a purpose with a consent notice can disclose tracking")
    return Tracking(clicks, opens, frozenset(versions)) if clicks or opens else None


def _identifier(reader: _Reader, data: dict[str, Any], key: str) -> str:
    value: str = reader.get(data, key, "key", str)
    if not value.replace("_", "").isalnum() or not value.isascii():
        raise reader.fail(f"{key}.key", "use letters, digits and underscores only")
    return value


def _unique(reader: _Reader, section: str, keys: list[str]) -> None:
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise reader.fail(section, f"duplicate key {', '.join(duplicates)}")


def _notice_types(
    reader: _Reader, raw: dict[str, Any], purposes: tuple[Purpose, ...]
) -> tuple[NoticeTypeSpec, ...]:
    service = {p.key for p in purposes if not p.is_advertising}
    specs: list[NoticeTypeSpec] = []
    for index, item in enumerate(reader.get(raw, "", "notice_types", list, [])):
        key = f"notice_types[{index}]"
        data = reader.table(item, key)
        type_key = _identifier(reader, data, key)
        purpose = reader.get(data, key, "purpose", str)
        if purpose not in service:
            # Notices go out without advertising consent, so only a service purpose may carry one.
            raise reader.fail(f"{key}.purpose", f"{purpose!r} is not a service purpose here")
        layout = reader.get(data, key, "layout", str, None)
        subject = reader.get(data, key, "subject", str, None)
        text = reader.get(data, key, "text", str, None)
        if (layout is None) == (subject is None or text is None):
            raise reader.fail(key, "give either a layout or both a subject and a text")
        name = reader.localized(data, key, "name")
        sample = reader.get(data, key, "sample", dict, {})
        if layout is None:
            for locale in ("vi", "en"):
                reader.table(sample.get(locale), f"{key}.sample.{locale}")
        specs.append(NoticeTypeSpec(type_key, name, purpose, layout, subject, text, sample))
    _unique(reader, "notice_types", [s.key for s in specs])
    return tuple(specs)


def _roles(reader: _Reader, raw: dict[str, Any]) -> tuple[Role, ...]:
    items = reader.get(raw, "", "roles", list, [])
    # role key -> (where it came from, for error messages; its table). A profile may redefine a
    # built-in role, but may not define the same role twice.
    tables = {name: (f"roles.{name}", dict(data, key=name)) for name, data in BUILTIN_ROLES.items()}
    seen: set[str] = set()
    for index, item in enumerate(items):
        data = reader.table(item, f"roles[{index}]")
        role_key = reader.get(data, f"roles[{index}]", "key", str)
        if role_key in seen:
            raise reader.fail(f"roles[{index}].key", f"duplicate key {role_key}")
        seen.add(role_key)
        tables[role_key] = (f"roles[{index}]", data)
    roles = []
    for key, data in tables.values():
        roles.append(
            Role(
                key=data["key"],
                name=reader.localized(data, key, "name"),
                permissions=reader.names(data, key, "permissions", PERMISSIONS),
                contact_fields=reader.names(data, key, "contact_fields", CONTACT_FIELDS),
                require_two_factor=reader.get(data, key, "require_two_factor", bool, False),
            )
        )
    return tuple(roles)


def _retention(reader: _Reader, raw: dict[str, Any]) -> Retention:
    data = reader.table(reader.get(raw, "", "retention", dict), "retention")
    records_min_days = reader.get(data, "retention", "records_min_days", int, 365)
    if records_min_days < 365:
        raise reader.fail("retention.records_min_days", "Decree 91/2020 Art 11 needs >= 365")
    rule = reader.choice(data, "retention", "rule", RetentionRule)
    grace_days = reader.get(data, "retention", "grace_days", int, 0)
    if grace_days < 0:
        raise reader.fail("retention.grace_days", "must be 0 or more days")
    ends_contracts = rule is RetentionRule.CONTRACT_END
    notify = reader.get(data, "retention", "notify", bool, ends_contracts)
    if notify and not ends_contracts:
        rule_name = RetentionRule.CONTRACT_END.value
        raise reader.fail("retention.notify", f"only the {rule_name} rule has an end to tell")
    return Retention(rule, grace_days, records_min_days, notify)
