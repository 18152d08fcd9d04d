"""The gettext catalogs hold every text the code uses, in Vietnamese and English, compiled as is.

The texts are found the way `make translations` finds them: pybabel's extraction with babel.cfg and
the Makefile's keywords, so what passes here is what a translator's catalogs will hold.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = ROOT / "notifier" / "translations"
REQUIRED = ("vi", "en")
# str.format fields of the admin texts ({minutes}); `{{ name }}` is a template shown as text.
FIELD = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")

Key = tuple[str | None, str]  # (msgctxt, msgid)


def babel_keywords() -> list[str]:
    """The Makefile's `-k` keywords: the test extracts exactly what `make translations` does."""
    line = re.search(r"^BABEL_KEYWORDS := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert line, "the Makefile names the extraction keywords in BABEL_KEYWORDS"
    return [word for word in line.group(1).split() if word != "-k"]


@cache
def extracted() -> dict[Key, str]:
    """Every text the code and templates use, with the first place that uses it."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(babel_keywords())}
    found: dict[Key, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # f-strings: their keys are in runtime_keys.py
        for filename, line, message, _, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords
        ):
            msgid = message if isinstance(message, str) else message[0]
            found.setdefault((context, msgid), f"{filename}:{line}")
    return found


@cache
def catalog(locale: str) -> Catalog:
    with (CATALOGS / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def entries(found: Catalog) -> dict[Key, str]:
    """The translated, non-fuzzy texts of a catalog: what `pybabel compile` puts in the .mo."""
    return {
        (message.context, str(message.id)): str(message.string)
        for message in found
        if message.id and message.string and not message.fuzzy
    }


def untranslated(used: dict[Key, str], found: Catalog) -> list[str]:
    translated = entries(found)
    ordered = sorted(used.items(), key=str)
    return [f"{key} ({where})" for key, where in ordered if key not in translated]


def test_every_text_the_code_uses_has_a_vietnamese_and_an_english_translation() -> None:
    used = extracted()
    # Admin keys, public pages, system mail, footers and form errors: hundreds, not a few.
    assert len(used) > 750
    assert any(where.startswith("templates/public/mail/") for where in used.values())
    assert any(where.startswith("templates/emails/footer") for where in used.values())
    for locale in REQUIRED:
        missing = untranslated(used, catalog(locale))
        assert not missing, f"{locale}: {len(missing)} texts without a translation: {missing[:20]}"


def test_the_check_fails_on_a_text_missing_from_a_catalog() -> None:
    partial = Catalog(locale="vi")
    partial.add("sign_in", "Đăng nhập")
    partial.add("Skip to main content", "")  # extracted by `make translations`, not translated
    partial.add("Unsubscribe", "Hủy", flags=["fuzzy"])  # fuzzy texts are not compiled
    used = {
        (None, "sign_in"): "a.html:1",
        (None, "Skip to main content"): "b.html:2",
        (None, "Unsubscribe"): "c.html:3",
        ("email footer", "sign_in"): "d.html:4",
    }
    assert untranslated(used, partial) == [
        "('email footer', 'sign_in') (d.html:4)",
        "(None, 'Skip to main content') (b.html:2)",
        "(None, 'Unsubscribe') (c.html:3)",
    ]


def test_every_catalog_text_is_found_in_the_code() -> None:
    """`make translations` drops a text extraction does not find: a key built at run time must
    be listed in notifier/web/admin/runtime_keys.py, a text nobody shows deleted."""
    used = set(extracted())
    for locale in REQUIRED:
        stray = sorted(set(entries(catalog(locale))) - used, key=str)
        assert not stray, f"{locale}: in the catalog but not in the code: {stray[:20]}"


def test_vietnamese_and_english_take_the_same_values() -> None:
    vi, en = entries(catalog("vi")), entries(catalog("en"))
    assert vi.keys() == en.keys()
    for key, text in vi.items():
        assert set(FIELD.findall(text)) == set(FIELD.findall(en[key])), key
    for locale in REQUIRED:
        # Babel's checks: the same %s placeholders as the msgid (what `pybabel compile` checks).
        problems = [(message.id, errors) for message, errors in catalog(locale).check()]
        assert not problems, problems


def compiled_locales() -> Iterable[Path]:
    return sorted(CATALOGS.glob("*/LC_MESSAGES/messages.po"))


def test_the_committed_mo_files_are_compiled_from_the_po_files() -> None:
    """The .mo files are committed (a clone, the image and a wheel need no build step), so they
    must say what the .po files say: `make translations` rewrites both."""
    locales = [po.parents[1].name for po in compiled_locales()]
    assert set(REQUIRED) <= set(locales)
    for locale in locales:
        mo_path = CATALOGS / locale / "LC_MESSAGES" / "messages.mo"
        assert mo_path.is_file(), f"{locale}: no messages.mo; run make translations"
        with mo_path.open("rb") as mo:
            compiled = entries(read_mo(mo))
        assert compiled == entries(catalog(locale)), f"{locale}: .mo is stale; make translations"


def test_every_contact_field_a_role_may_be_granted_has_its_label() -> None:
    """The staff and home pages name each granted field by `t('field_' ~ f)`: a field group
    added to the profile model without its label made /admin/staff answer 500."""
    from notifier.domain.profile import CONTACT_FIELDS

    for locale in ("vi", "en"):
        translated = entries(catalog(locale))
        missing = sorted(f for f in CONTACT_FIELDS if (None, f"field_{f}") not in translated)
        assert missing == [], (locale, missing)
