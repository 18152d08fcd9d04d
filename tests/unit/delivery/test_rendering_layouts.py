"""Built-in layouts: snapshot tests of HTML and text per layout, locale and policy profile.

The snapshots live in tests/snapshots/layout_<key>_<locale>_<profile>.{html,txt} and are compared
exactly; the sample dates count from a pinned `now`, so they do not change with today's date.
After an intended change to a layout, the footer or mjml-python, regenerate and review the diff:
    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/delivery/test_rendering_layouts.py
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from pathlib import Path

import pytest

from notifier.delivery.rendering import builtin_layouts
from notifier.delivery.rendering.environment import SYSTEM
from notifier.delivery.rendering.layouts import preview_links
from notifier.delivery.rendering.samples import localized, make_sample
from notifier.domain.profile import Identity, load_profile

ROOT = Path(__file__).resolve().parents[3]
SNAPSHOTS = ROOT / "tests" / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
NOW = dt.datetime(2026, 11, 25, 22, 42, tzinfo=dt.UTC)  # 26/11/2026 in Vietnam
PROFILES = ("dcnet", "caycanhhoanggia")
DATED = ("valid_until", "starts_at", "ends_at", "expires_on")
CASES = [
    (key, locale, name)
    for key in ("promotion", "event", "renewal")
    for locale in ("vi", "en")
    for name in PROFILES
]


@cache
def identity(name: str) -> Identity:
    return load_profile(ROOT / "config" / "profiles" / f"{name}.toml").identity


def check_snapshot(name: str, actual: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}; run with UPDATE_SNAPSHOTS=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its snapshot"


@pytest.mark.parametrize(("key", "locale", "profile"), CASES)
def test_layout_matches_its_snapshot(key, locale, profile):
    message = builtin_layouts()[key].preview(locale, NOW, identity(profile))
    check_snapshot(f"layout_{key}_{locale}_{profile}.html", message.html)
    check_snapshot(
        f"layout_{key}_{locale}_{profile}.txt", f"Subject: {message.subject}\n\n{message.text}"
    )


@pytest.mark.parametrize(("key", "locale", "profile"), CASES)
def test_layout_speaks_the_locale_and_has_the_footer(key, locale, profile):
    layout = builtin_layouts()[key]
    message = layout.preview(locale, NOW, identity(profile))
    assert f'<html lang="{locale}"' in message.html
    assert message.subject.startswith("[QC] ") is layout.advertising
    assert message.html.index('data-notifier="identity"') < message.html.index(
        'data-notifier="refusal"'
    )
    other = {"vi": "Kính gửi", "en": "Dear"}["en" if locale == "vi" else "vi"]
    assert other not in message.text  # no stray text from the other language


@pytest.mark.parametrize(("key", "locale", "profile"), CASES)
def test_samples_carry_the_senders_brand_and_no_other(key, locale, profile):
    sender = identity(profile)
    message = builtin_layouts()[key].preview(locale, NOW, sender)
    for part in (message.html, message.text):
        assert "Mây Xanh" not in part and "mayxanh" not in part
        assert sender.from_name in part and sender.phone in part
    other = identity(next(name for name in PROFILES if name != profile))
    assert other.from_name not in message.html and other.website not in message.html


@pytest.mark.parametrize("key", ["promotion", "event", "renewal"])
@pytest.mark.parametrize("locale", ["vi", "en"])
def test_sample_dates_are_in_the_future_whatever_today_is(key, locale):
    for now in (NOW, dt.datetime(2031, 2, 28, 20, 0, tzinfo=dt.UTC)):
        sample = builtin_layouts()[key].sample(locale, now, identity("dcnet"))
        dated = [sample[k] for k in DATED if k in sample]
        assert dated
        for value in dated:
            day = dt.date.fromisoformat(value[:10])
            assert now.date() < day <= now.date() + dt.timedelta(days=31)


def test_layout_formats_follow_the_locale():
    layouts, sender = builtin_layouts(), identity("dcnet")
    renewal_vi = layouts["renewal"].preview("vi", NOW, sender)
    assert "1.250.000\xa0₫" in renewal_vi.html
    assert "10/12/2026" in renewal_vi.subject  # 14 days after 26/11/2026 in Vietnam
    assert "Dec 10, 2026" in layouts["renewal"].preview("en", NOW, sender).subject
    event = layouts["event"].preview("vi", NOW, sender).text
    assert "Thứ Năm, 17/12/2026" in event and "08:30 – 11:30" in event
    assert "8:30 AM – 11:30 AM" in layouts["event"].preview("en", NOW, sender).text


@pytest.mark.parametrize(
    "stored", ["2025-09-18 08:30:00+07:00", "2025-09-18T08:30:00+07:00", "2025-09-18"]
)
def test_dates_parse_whatever_separator_the_data_was_stored_with(stored):
    """The event layout once failed on its own sample: str() of a datetime has a space, no T."""
    assert SYSTEM.from_string("{{ d|date }}").render(d=stored, locale="vi") == "18/09/2025"
    if len(stored) > 10:
        layout, sender = builtin_layouts()["event"], identity("dcnet")
        footer = layout.sample_footer("vi", sender)
        sample = {**layout.sample("vi", NOW, sender), "starts_at": stored, "ends_at": stored}
        message = layout.compile().render({**sample, "links": preview_links(footer)}, footer)
        assert "18/09/2025" in message.subject and "08:30" in message.text


def test_samples_make_concrete_values_from_their_tables():
    raw = {"site": "{website}/x", "on": {"in_days": 2}, "at": {"in_days": 1, "at": "09:15"}}
    made = make_sample(raw, NOW, identity("dcnet"))
    assert made == {
        "site": "https://client.dcnet.vn/x",
        "on": "2026-11-28",
        "at": "2026-11-27T09:15:00+07:00",
    }


@pytest.mark.parametrize(
    ("locale", "expected"), [("vi", "xin chào"), ("en", "hello"), ("fr", "xin chào")]
)
def test_campaign_data_variants_follow_the_locale_falling_back_to_vietnamese(locale, expected):
    data = {"vi": {"greeting": "xin chào"}, "en": {"greeting": "hello"}}
    assert localized(data, locale)["greeting"] == expected
    assert localized({"vi": {"greeting": "x"}}, "en")["greeting"] == "x"
    flat = {"greeting": "same", "vi": {"a": 1}}  # a key beside vi: not variants, the same for all
    assert localized(flat, "en") is flat


def test_only_the_promotion_layout_marks_a_promotion_block():
    layouts = builtin_layouts()
    assert 'css-class="promotion"' in layouts["promotion"].body
    assert not layouts["renewal"].advertising  # compiles as a service notice: no promotion in it
