"""Shipped notice types and system mails: snapshots per type or kind, locale and policy profile.

Like the layouts' (test_rendering_layouts.py): tests/snapshots/notice_<key>_<locale>_<profile>
and system_<kind>_<locale>_<profile>, .html and .txt, compared exactly; sample dates count from a
pinned `now`. After an intended change, regenerate and review the diff:
    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/delivery/test_builtin_content.py
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path

import pytest

from notifier.delivery.system_mail import mail_samples, render_mail
from notifier.domain.profile import Profile, load_profile
from notifier.models import SystemMailKind
from notifier.notices.types import preview_notice, shipped_samples
from tests.unit.delivery.test_rendering_layouts import NOW, PROFILES, check_snapshot

ROOT = Path(__file__).resolve().parents[3]
GREETING = {"vi": "Kính gửi", "en": "Dear"}
# Words only the other language's text has: a message in one language carries none of them.
FOREIGN = {
    "vi": re.compile(r"\b(?:Dear|Service|Order|Phone|Request|Your|We have|This is)\b"),
    "en": re.compile(r"Kính gửi|Dịch vụ|Đơn hàng|Điện thoại|Chúng tôi|Đây là|yêu cầu"),
}


@cache
def active(name: str) -> Profile:
    return load_profile(ROOT / "config" / "profiles" / f"{name}.toml")


NOTICE_CASES = [
    (name, spec.key, locale)
    for name in PROFILES
    for spec in active(name).notice_types
    for locale in ("vi", "en")
]
MAIL_CASES = [
    (name, kind, locale) for name in PROFILES for kind in SystemMailKind for locale in ("vi", "en")
]


def spec_of(name: str, key: str):  # type: ignore[no-untyped-def]
    return next(spec for spec in active(name).notice_types if spec.key == key)


def test_every_profile_ships_the_notice_types_the_issue_names() -> None:
    assert {s.key for s in active("dcnet").notice_types} == {"renewal", "service_notice"}
    assert {s.key for s in active("caycanhhoanggia").notice_types} == {
        "order_confirmation", "delivery_contact", "care",
    }  # fmt: skip


@pytest.mark.parametrize(("profile", "key", "locale"), NOTICE_CASES)
def test_notice_type_matches_its_snapshot(profile: str, key: str, locale: str) -> None:
    message = preview_notice(spec_of(profile, key), locale, NOW, active(profile))
    check_snapshot(f"notice_{key}_{locale}_{profile}.html", message.html)
    check_snapshot(
        f"notice_{key}_{locale}_{profile}.txt", f"Subject: {message.subject}\n\n{message.text}"
    )


@pytest.mark.parametrize(("profile", "key", "locale"), NOTICE_CASES)
def test_notice_type_speaks_its_locale_in_the_senders_name(
    profile: str, key: str, locale: str
) -> None:
    sender = active(profile).identity
    message = preview_notice(spec_of(profile, key), locale, NOW, active(profile))
    assert f'<html lang="{locale}"' in message.html
    assert not message.subject.startswith("[QC]")  # service mail
    assert message.text.startswith(GREETING[locale])
    body = message.text.split("\n--", 1)[0]  # the body, without the legal footer
    assert not FOREIGN[locale].search(body), body
    for part in (message.html, message.text):
        assert sender.phone in part and sender.company in part
    other = active(next(name for name in PROFILES if name != profile)).identity
    assert other.from_name not in message.html and other.website not in message.html


@pytest.mark.parametrize(("profile", "key", "locale"), NOTICE_CASES)
def test_notice_samples_are_dated_from_today(profile: str, key: str, locale: str) -> None:
    spec = spec_of(profile, key)
    for now in (NOW, dt.datetime(2031, 2, 28, 20, 0, tzinfo=dt.UTC)):
        sample = shipped_samples(spec, now, active(profile).identity)[locale]
        for value in sample.values():
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                day = dt.date.fromisoformat(value)
                assert now.date() < day <= now.date() + dt.timedelta(days=31)


@pytest.mark.parametrize(("profile", "kind", "locale"), MAIL_CASES)
def test_system_mail_matches_its_snapshot(profile: str, kind: SystemMailKind, locale: str) -> None:
    data = mail_samples(kind, NOW, active(profile))[locale]
    message = render_mail(kind, locale, data, active(profile), "https://notifier.test/p/PREVIEW")
    check_snapshot(f"system_{kind.value}_{locale}_{profile}.html", message.html)
    name = f"system_{kind.value}_{locale}_{profile}"
    check_snapshot(f"{name}.txt", f"Subject: {message.subject}\n\n{message.text}")


@pytest.mark.parametrize(("profile", "kind", "locale"), MAIL_CASES)
def test_system_mail_speaks_its_locale_in_the_senders_name(
    profile: str, kind: SystemMailKind, locale: str
) -> None:
    sender = active(profile).identity
    data = mail_samples(kind, NOW, active(profile))[locale]
    message = render_mail(kind, locale, data, active(profile))
    assert f'<html lang="{locale}"' in message.html
    if kind is not SystemMailKind.REFUSAL_CHECK:  # asks in both languages on purpose
        assert not FOREIGN[locale].search(message.text), message.text
    for part in (message.html, message.text):
        assert sender.company in part and sender.phone in part
    assert "Mây Xanh" not in message.text and "mayxanh" not in message.text
    other = active(next(name for name in PROFILES if name != profile)).identity
    assert other.company not in message.text and other.website not in message.html
    if "purposes" in data:  # the profile's own lists, in the mail's language
        names = [p.name.get(locale) for p in active(profile).purposes if p.is_advertising]
        assert names and all(name in message.text for name in names)


RETENTION_DAYS = ("contract_ends_on", "erasure_on")


def test_system_mail_samples_were_received_before_now_with_deadlines_after() -> None:
    for now in (NOW, dt.datetime(2031, 2, 28, 20, 0, tzinfo=dt.UTC)):
        for kind in SystemMailKind:
            samples = mail_samples(kind, now, active("dcnet"))
            assert set(samples) == {"vi", "en"}
            for data in samples.values():
                if kind is SystemMailKind.RETENTION:  # told on the end day, of an erasure ahead
                    ends, erasure = (dt.date.fromisoformat(data[k]) for k in RETENTION_DAYS)
                    assert ends < erasure and erasure > now.date()
                    continue
                assert dt.datetime.fromisoformat(data["received_at"]) < now
                for key in ("acknowledge_by", "complete_by", "expires_at"):
                    if key in data:
                        assert dt.datetime.fromisoformat(data[key]) > now
