"""Built-in layouts: snapshot tests of HTML and text in vi and en.

The snapshots live in tests/snapshots/layout_<key>_<locale>.{html,txt} and are compared exactly.
After an intended change to a layout, the footer or mjml-python, regenerate and review the diff:
    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_rendering_layouts.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from notifier.delivery.rendering import builtin_layouts

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
CASES = [(key, locale) for key in ("promotion", "event", "renewal") for locale in ("vi", "en")]


def check_snapshot(name: str, actual: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}; run with UPDATE_SNAPSHOTS=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its snapshot"


@pytest.mark.parametrize(("key", "locale"), CASES)
def test_layout_matches_its_snapshot(key, locale):
    message = builtin_layouts()[key].preview(locale)
    check_snapshot(f"layout_{key}_{locale}.html", message.html)
    check_snapshot(f"layout_{key}_{locale}.txt", f"Subject: {message.subject}\n\n{message.text}")


@pytest.mark.parametrize(("key", "locale"), CASES)
def test_layout_speaks_the_locale_and_has_the_footer(key, locale):
    layout = builtin_layouts()[key]
    message = layout.preview(locale)
    assert f'<html lang="{locale}"' in message.html
    assert message.subject.startswith("[QC] ") is layout.advertising
    assert message.html.index('data-notifier="identity"') < message.html.index(
        'data-notifier="refusal"'
    )
    other = {"vi": "Kính gửi", "en": "Dear"}["en" if locale == "vi" else "vi"]
    assert other not in message.text  # no stray text from the other language


def test_layout_formats_follow_the_locale():
    layouts = builtin_layouts()
    assert "1.250.000\xa0₫" in layouts["renewal"].preview("vi").html
    assert "15/08/2025" in layouts["renewal"].preview("vi").subject
    assert "Aug 15, 2025" in layouts["renewal"].preview("en").subject
    event = layouts["event"].preview("vi").text
    assert "Thứ Năm, 18/09/2025" in event and "08:30 – 11:30" in event
    assert "8:30 AM – 11:30 AM" in layouts["event"].preview("en").text


def test_only_the_promotion_layout_marks_a_promotion_block():
    layouts = builtin_layouts()
    assert 'css-class="promotion"' in layouts["promotion"].body
    assert not layouts["renewal"].advertising  # compiles as a service notice: no promotion in it
