"""A third language is a catalog and a setting: made with pybabel as docs/translations.md says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import configure
from tests.unit.test_translations import ROOT, babel_keywords

PYBABEL = str(Path(sys.executable).parent / "pybabel")
FRENCH = {
    "Skip to main content": "Aller au contenu principal",
    "Get news from %s": "Recevoir les nouvelles de %s",
    "sign_in": "Se connecter",
}


def _pybabel(*args: str) -> None:
    subprocess.run([PYBABEL, "-q", *args], cwd=ROOT, check=True, capture_output=True)


def _french_catalog(directory: Path) -> None:
    """What a translator does: extract, init fr, translate a few texts (Poedit), compile."""
    pot = directory / "messages.pot"
    keywords = [arg for word in babel_keywords() for arg in ("-k", word)]
    _pybabel("extract", "-F", "babel.cfg", *keywords, "-o", str(pot), ".")
    _pybabel("init", "-i", str(pot), "-d", str(directory), "-l", "fr")
    po = directory / "fr" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as file:
        catalog = read_po(file, locale="fr")
    for msgid, text in FRENCH.items():
        catalog[msgid].string = text
    with po.open("wb") as file:
        write_po(file, catalog)
    _pybabel("compile", "-d", str(directory), "-l", "fr")


def test_a_french_catalog_and_the_locales_setting_show_the_pages_in_french(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    _french_catalog(tmp_path)
    configure(app, LOCALES=["vi", "en", "fr"], TRANSLATION_DIRS=[str(tmp_path)])

    page = client.get("/subscribe?lang=fr").get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "Aller au contenu principal" in page and "Recevoir les nouvelles de" in page
    # The switcher offers the new language by its own name.
    assert 'hreflang="fr"' in page and ">français</a>" in page
    # A text the translator has not done yet falls back to Vietnamese, never to a msgid.
    assert "Ngôn ngữ" in page and 'aria-label="Language"' not in page
    # The choice is remembered, as for Vietnamese and English; admin pages follow it too.
    assert "Aller au contenu principal" in client.get("/subscribe").get_data(as_text=True)
    assert "Se connecter" in client.get("/admin/login?lang=fr").get_data(as_text=True)


def test_a_language_that_is_not_configured_is_not_shown(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    _french_catalog(tmp_path)
    configure(app, TRANSLATION_DIRS=[str(tmp_path)])  # LOCALES stays vi, en
    page = client.get("/subscribe?lang=fr").get_data(as_text=True)
    assert '<html lang="vi">' in page and "Bỏ qua, tới nội dung chính" in page
    assert "Aller au contenu principal" not in page and 'hreflang="fr"' not in page
