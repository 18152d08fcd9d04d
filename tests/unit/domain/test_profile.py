"""Shipped policy profiles load and hold what docs/policies/ requires; broken ones are refused."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from notifier.domain.profile import (
    BUILTIN_ROLES,
    CONTACT_FIELDS,
    PERMISSIONS,
    TRACK_CLICKS,
    LegalBasis,
    Profile,
    ProfileError,
    PurposeKind,
    RetentionRule,
    load_profile,
)

PROFILES = Path(__file__).resolve().parents[3] / "config" / "profiles"
SHIPPED = ["dcnet", "caycanhhoanggia"]


def shipped(key: str) -> Profile:
    return load_profile(PROFILES / f"{key}.toml")


# --- the shipped profiles -------------------------------------------------------------------------


@pytest.mark.parametrize("key", SHIPPED)
def test_shipped_profile_loads_with_vietnamese_defaults(key: str) -> None:
    profile = shipped(key)
    assert profile.key == key
    assert profile.path == str(PROFILES / f"{key}.toml")
    assert profile.advertising_label == "[QC]"
    assert profile.default_locale == "vi"
    assert profile.default_time_zone == "Asia/Ho_Chi_Minh"
    assert profile.scope.vi.strip() and profile.scope.en.strip()
    assert profile.scope.vi != profile.scope.en
    assert profile.retention.records_min_days >= 365
    assert profile.retention.grace_days >= 0


@pytest.mark.parametrize("key", SHIPPED)
def test_builtin_admin_and_marketing_roles_are_present(key: str) -> None:
    profile = shipped(key)
    admin, marketing = profile.role("admin"), profile.role("marketing")
    assert admin.permissions == PERMISSIONS
    assert admin.contact_fields == CONTACT_FIELDS
    assert marketing.permissions == frozenset(BUILTIN_ROLES["marketing"]["permissions"])
    assert marketing.contact_fields == frozenset(BUILTIN_ROLES["marketing"]["contact_fields"])
    assert "authority.export" not in marketing.permissions
    assert not marketing.contact_fields & {"deal", "national_id", "birth_date", "phone", "address"}


@pytest.mark.parametrize("key", SHIPPED)
def test_every_advertising_purpose_needs_consent_and_has_a_cap(key: str) -> None:
    advertising = [p for p in shipped(key).purposes if p.kind is PurposeKind.ADVERTISING]
    assert advertising
    for purpose in advertising:
        assert purpose.is_advertising
        assert purpose.legal_basis is LegalBasis.CONSENT, purpose.key
        # a disclosed frequency, within the 3-per-24-hours ceiling (Decree 91/2020 Art 13(5))
        assert purpose.max_per_week is not None and 1 <= purpose.max_per_week <= 21, purpose.key


@pytest.mark.parametrize("key", SHIPPED)
def test_purpose_keys_and_list_ids_are_unique(key: str) -> None:
    profile = shipped(key)
    keys = [p.key for p in profile.purposes]
    list_ids = [p.list_id for p in profile.purposes]
    assert len(set(keys)) == len(keys)
    assert len(set(list_ids)) == len(list_ids)
    for purpose in profile.purposes:
        assert purpose.list_id.endswith(f".{key}.example"), purpose.list_id
        assert purpose.notice_version.strip()


@pytest.mark.parametrize("key", SHIPPED)
def test_notices_are_real_bilingual_texts_with_channel_and_withdrawal(key: str) -> None:
    profile = shipped(key)
    for purpose in profile.purposes:
        vi, en = purpose.notice.vi, purpose.notice.en
        assert vi.strip() and en.strip() and vi != en, purpose.key
        assert purpose.notice_hash("vi") != purpose.notice_hash("en")
        assert purpose.name.vi != purpose.name.en or purpose.name.vi.isascii()
        for text in (vi, en, purpose.name.vi, purpose.frequency.vi):
            # stored hashes must not depend on how the text was typed
            assert unicodedata.is_normalized("NFC", text), purpose.key
        assert not vi.isascii(), f"{purpose.key}: Vietnamese notice has no diacritics"
        # channel and every refusal route (Decree 91/2020 Art 20(2))
        assert "email" in vi.lower() and "email" in en.lower()
        assert "một lần" in vi and "one click" in en
        for text in (vi, en):
            assert profile.identity.unsubscribe_mailbox in text, purpose.key
            assert profile.identity.phone in text, purpose.key
        if purpose.is_advertising:
            assert vi.startswith("Tôi đồng ý") and en.startswith("I agree"), purpose.key
            assert "quảng cáo" in vi and "advertising" in en
            assert "rút lại" in vi and "withdraw" in en
        else:
            assert "không chứa quảng cáo" in vi and "no advertising" in en, purpose.key
            assert "từ chối" in vi and "refuse" in en


@pytest.mark.parametrize("key", SHIPPED)
def test_frequency_texts_match_max_per_week(key: str) -> None:
    for purpose in shipped(key).purposes:
        vi, en = purpose.frequency.vi, purpose.frequency.en
        assert vi.strip() and en.strip() and vi != en, purpose.key
        n = purpose.max_per_week
        if n is None:
            # uncapped only for service mail that is sent while something is in progress
            assert purpose.kind is PurposeKind.SERVICE, purpose.key
            assert vi.startswith("Chỉ") and en.startswith("Only"), purpose.key
            continue
        email_vi, email_en = f"tối đa {n} email mỗi tuần", f"at most {n} email"
        assert email_vi in vi.lower() and email_en in en.lower(), purpose.key
        assert email_vi in purpose.notice.vi.lower(), purpose.key
        assert email_en in purpose.notice.en.lower(), purpose.key


@pytest.mark.parametrize("key", SHIPPED)
def test_custom_roles_use_known_names_and_only_admin_has_everything(key: str) -> None:
    profile = shipped(key)
    for role in profile.roles:
        assert role.permissions <= PERMISSIONS and role.contact_fields <= CONTACT_FIELDS
        assert role.name.vi.strip() and role.name.en.strip()
        if role.key != "admin":
            assert "staff.manage" not in role.permissions, role.key
            assert "apikeys.manage" not in role.permissions, role.key


def test_dcnet_matches_its_policy() -> None:
    profile = shipped("dcnet")
    kinds = {p.key: (p.kind, p.legal_basis) for p in profile.purposes}
    assert kinds == {
        "promotions": (PurposeKind.ADVERTISING, LegalBasis.CONSENT),
        "events": (PurposeKind.ADVERTISING, LegalBasis.CONSENT),
        "renewal": (PurposeKind.SERVICE, LegalBasis.CONTRACT),
        "sales_contact": (PurposeKind.SERVICE, LegalBasis.CONTRACT),
    }
    assert [r.key for r in profile.roles] == ["admin", "marketing", "staff_in_charge", "management"]
    # a NAME change goes through a form that staff verify; the rest is self-service
    assert profile.verified_fields == {"name"}
    assert "name" not in profile.self_editable
    assert profile.self_editable == {
        "phone", "address", "email", "national_id", "birth_date", "contact_person",
    }  # fmt: skip
    assert profile.retention.rule is RetentionRule.CONTRACT_END
    # competent authorities get a logged export, made by management only
    holders = {r.key for r in profile.roles if "authority.export" in r.permissions}
    assert holders == {"admin", "management"}
    assert "privacy.handle" in profile.role("staff_in_charge").permissions
    # controller identity as printed in the policy, section (đ)
    identity = profile.identity
    assert identity.company == "CÔNG TY CỔ PHẦN VIỄN THÔNG DCNET"
    assert identity.phone == "1900 0382"
    assert identity.address.startswith("137 Lê Quang Định, Phường 14, Quận Bình Thạnh")
    assert identity.website == "https://client.dcnet.vn"
    for address in (identity.email, identity.from_address, identity.unsubscribe_mailbox):
        assert address.endswith("@dcnet.example.vn"), address


def test_caycanhhoanggia_matches_its_policy() -> None:
    profile = shipped("caycanhhoanggia")
    kinds = {p.key: (p.kind, p.legal_basis) for p in profile.purposes}
    assert kinds == {
        "product_info": (PurposeKind.ADVERTISING, LegalBasis.CONSENT),
        "orders": (PurposeKind.SERVICE, LegalBasis.CONTRACT),
        "customer_care": (PurposeKind.ADVERTISING, LegalBasis.CONSENT),
        "project_publicity": (PurposeKind.ADVERTISING, LegalBasis.CONSENT),
        "complaints": (PurposeKind.SERVICE, LegalBasis.LEGAL_OBLIGATION),
    }
    assert [r.key for r in profile.roles] == [
        "admin", "marketing", "consulting_orders", "shipping", "customer_care",
    ]  # fmt: skip
    shipping = profile.role("shipping")
    assert shipping.contact_fields == {"name", "phone", "address"}
    assert shipping.permissions == {"contacts.view"}
    # confidential deal data (project costs) only for the consulting and order department
    deal = {r.key for r in profile.roles if "deal" in r.contact_fields}
    assert deal == {"admin", "consulting_orders"}
    assert "privacy.handle" in profile.role("customer_care").permissions
    assert {r.key for r in profile.roles if "authority.export" in r.permissions} == {"admin"}
    assert profile.self_editable == {"phone", "address", "email", "name"}
    assert profile.verified_fields == frozenset()
    assert profile.retention.rule is RetentionRule.ON_REQUEST
    assert profile.identity.company == "Công ty Caycanhhoanggia"
    for address in (
        profile.identity.email,
        profile.identity.from_address,
        profile.identity.unsubscribe_mailbox,
    ):
        assert address.endswith("@caycanhhoanggia.example.vn"), address


# --- broken profiles ------------------------------------------------------------------------------

MINIMAL = """\
key = "broken"
name = "Broken Co"
self_editable_fields = ["phone"]
verified_fields = ["name"]

[identity]
company = "Broken Co"
phone = "028 0000 0000"
email = "info@broken.example.vn"
address = "1 Example Street"
website = "https://broken.example.vn"
from_address = "news@broken.example.vn"
from_name = "Broken"
unsubscribe_mailbox = "unsubscribe@broken.example.vn"

[[purposes]]
key = "news"
kind = "advertising"
legal_basis = "consent"
name = { vi = "Tin tức", en = "News" }
notice = { vi = "Tôi đồng ý nhận tin.", en = "I agree to receive news." }
notice_version = "1"
frequency = { vi = "Tối đa 1 email mỗi tuần", en = "At most 1 email a week" }
max_per_week = 1
list_id = "news.broken.example"

[[roles]]
key = "clerk"
name = { vi = "Nhân viên", en = "Clerk" }
permissions = ["contacts.view"]
contact_fields = ["name", "email"]

[retention]
rule = "on_request"
records_min_days = 365
"""

SECOND_PURPOSE = """
[[purposes]]
key = "news"
kind = "service"
legal_basis = "contract"
name = { vi = "Dịch vụ", en = "Service" }
notice = { vi = "Thông báo dịch vụ.", en = "Service notices." }
notice_version = "1"
frequency = { vi = "Khi cần", en = "When needed" }
list_id = "service.broken.example"
"""

SECOND_ROLE = """
[[roles]]
key = "clerk"
name = { vi = "Nhân viên 2", en = "Clerk 2" }
permissions = ["contacts.view"]
"""


def test_minimal_profile_used_by_the_broken_cases_loads(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    profile = load_profile(path)
    assert [p.key for p in profile.purposes] == ["news"]
    assert profile.role("clerk").contact_fields == {"name", "email"}
    assert profile.retention.rule is RetentionRule.ON_REQUEST


def test_a_purposes_public_archive_is_off_unless_turned_on(tmp_path: Path) -> None:
    path = tmp_path / "archive.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_profile(path).purpose("news").public_archive is False
    turned_on = 'list_id = "news.broken.example"\npublic_archive = true'
    path.write_text(MINIMAL.replace('list_id = "news.broken.example"', turned_on), encoding="utf-8")
    assert load_profile(path).purpose("news").public_archive is True


def test_tracking_is_off_unless_a_notice_version_discloses_it(tmp_path: Path) -> None:
    path = tmp_path / "tracking.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_profile(path).purpose("news").tracking is None
    turned_on = (
        'list_id = "news.broken.example"\n'
        'tracking = { clicks = true, opens = false, notice_versions = ["2027-01"] }'
    )
    path.write_text(MINIMAL.replace('list_id = "news.broken.example"', turned_on), encoding="utf-8")
    tracking = load_profile(path).purpose("news").tracking
    assert tracking is not None
    assert tracking.flags_for("2027-01") == TRACK_CLICKS
    assert tracking.flags_for("2026-01") == 0  # an older notice did not disclose it
    assert tracking.flags_for(None) == 0
    nothing = turned_on.replace("clicks = true", "clicks = false")
    path.write_text(MINIMAL.replace('list_id = "news.broken.example"', nothing), encoding="utf-8")
    assert load_profile(path).purpose("news").tracking is None


def test_the_real_profiles_track_nobody() -> None:
    for path in sorted(Path("config/profiles").glob("*.toml")):
        assert all(p.tracking is None for p in load_profile(path).purposes), path


# (id, text replaced in MINIMAL, replacement, key named in the error, words of the problem)
BROKEN = [
    ("missing identity key", 'phone = "028 0000 0000"\n', "", "identity.phone", "is missing"),
    ("missing identity table", "[identity]", "[identity_block]", "identity", "is missing"),
    ("bad kind", 'kind = "advertising"', 'kind = "newsletter"', "purposes[0].kind", "'newsletter'"),
    (
        "advertising with contract basis",
        'legal_basis = "consent"',
        'legal_basis = "contract"',
        "purposes[0].legal_basis",
        "advertising needs consent",
    ),
    (
        "unknown contact field",
        'contact_fields = ["name", "email"]',
        'contact_fields = ["name", "salary"]',
        "roles[0].contact_fields",
        "unknown: salary",
    ),
    (
        "unknown permission",
        'permissions = ["contacts.view"]',
        'permissions = ["contacts.view", "campaigns.delete"]',
        "roles[0].permissions",
        "unknown: campaigns.delete",
    ),
    (
        "duplicate purpose key",
        "[[roles]]",
        SECOND_PURPOSE + "\n[[roles]]",
        "purposes",
        "duplicate key news",
    ),
    (
        "duplicate role key",
        "[retention]",
        SECOND_ROLE + "\n[retention]",
        "roles[1].key",
        "duplicate key clerk",
    ),
    (
        "records_min_days 100",
        "records_min_days = 365",
        "records_min_days = 100",
        "retention.records_min_days",
        ">= 365",
    ),
    (
        "bad email in identity",
        'email = "info@broken.example.vn"',
        'email = "info at broken.example.vn"',
        "identity.email",
        "is not an email address",
    ),
    (
        "header injection in unsubscribe mailbox",
        'unsubscribe_mailbox = "unsubscribe@broken.example.vn"',
        'unsubscribe_mailbox = "u@broken.example.vn\\r\\nBcc: x@y"',
        "identity.unsubscribe_mailbox",
        "is not an email address",
    ),
    ("invalid TOML", 'key = "broken"', 'key = "broken', "-", "not valid TOML"),
    (
        "bad retention rule",
        'rule = "on_request"',
        'rule = "forever"',
        "retention.rule",
        "not one of contract_end, on_request",
    ),
    (
        "max_per_week zero",
        "max_per_week = 1",
        "max_per_week = 0",
        "purposes[0].max_per_week",
        "at least 1",
    ),
    (
        "max_per_week as text",
        "max_per_week = 1",
        'max_per_week = "1"',
        "purposes[0].max_per_week",
        "must be a int",
    ),
    (
        "public_archive as text",
        'list_id = "news.broken.example"',
        'list_id = "news.broken.example"\npublic_archive = "yes"',
        "purposes[0].public_archive",
        "must be a bool",
    ),
    (
        "public_archive of a service purpose",
        'kind = "advertising"\nlegal_basis = "consent"',
        'kind = "service"\nlegal_basis = "contract"\npublic_archive = true',
        "purposes[0].public_archive",
        "only an advertising purpose has a public archive",
    ),
    (
        "tracking without notice versions",
        'list_id = "news.broken.example"',
        'list_id = "news.broken.example"\ntracking = { clicks = true }',
        "purposes[0].tracking.notice_versions",
        "is missing",
    ),
    (
        "tracking with an empty list of notice versions",
        'list_id = "news.broken.example"',
        'list_id = "news.broken.example"\ntracking = { clicks = true, notice_versions = [] }',
        "purposes[0].tracking.notice_versions",
        "must list the consent notice versions",
    ),
    (
        "tracking with a misspelled key",
        'list_id = "news.broken.example"',
        'list_id = "news.broken.example"\ntracking = { click = true, notice_versions = ["1"] }',
        "purposes[0].tracking",
        "unknown key: click",
    ),
    (
        "tracking clicks as text",
        'list_id = "news.broken.example"',
        'list_id = "news.broken.example"\ntracking = { clicks = "yes", notice_versions = ["1"] }',
        "purposes[0].tracking.clicks",
        "must be a bool",
    ),
    (
        "tracking without a consent notice",
        'kind = "advertising"\nlegal_basis = "consent"',
        'kind = "service"\nlegal_basis = "contract"\n'
        'tracking = { clicks = true, notice_versions = ["1"] }',
        "purposes[0].tracking",
        "only a purpose with a consent notice",
    ),
    (
        "missing English notice",
        'notice = { vi = "Tôi đồng ý nhận tin.", en = "I agree to receive news." }',
        'notice = { vi = "Tôi đồng ý nhận tin." }',
        "purposes[0].notice.en",
        "is missing",
    ),
    (
        "empty notice",
        'en = "I agree to receive news."',
        'en = "  "',
        "purposes[0].notice.en",
        "must not be empty",
    ),
    (
        "non-ASCII purpose key",
        'key = "news"',
        'key = "tin_tức"',
        "purposes[0].key",
        "letters, digits and underscores",
    ),
    (
        "unknown self-editable field",
        'self_editable_fields = ["phone"]',
        'self_editable_fields = ["phone", "salary"]',
        "self_editable_fields",
        "unknown: salary",
    ),
    (
        "permissions not strings",
        'permissions = ["contacts.view"]',
        "permissions = [1]",
        "roles[0].permissions",
        "must be a list of strings",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [pytest.param(*case[1:], id=case[0]) for case in BROKEN],
)
def test_broken_profile_is_refused_with_path_key_and_problem(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    assert MINIMAL.count(old) == 1, "the case must change exactly one place"
    path = tmp_path / "broken.toml"
    path.write_text(MINIMAL.replace(old, new), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    error = info.value
    assert (error.path, error.key) == (str(path), key)
    assert problem in error.problem
    assert str(error).startswith(f"{path}: {key}: ")
    assert problem in str(error)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        pytest.param("absent.toml", None, "file not found", id="missing file"),
        pytest.param("latin1.toml", b'name = "C\xf4ng ty"\n', "UTF-8", id="not UTF-8"),
        pytest.param("dir.toml", "dir", "cannot be read", id="a directory"),
    ],
)
def test_unreadable_profile_is_refused_with_path(
    tmp_path: Path, name: str, content: bytes | str | None, problem: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "dir":
        path.mkdir()
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert (info.value.path, info.value.key) == (str(path), "-")
    assert problem in info.value.problem
    assert str(info.value) == f"{path}: -: {info.value.problem}"
