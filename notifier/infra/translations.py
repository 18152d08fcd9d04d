"""The gettext catalogs of every text a person reads: pages, system mail, footers, form errors.

Catalogs are standard files, `<dir>/<locale>/LC_MESSAGES/messages.mo` compiled from the `.po`
beside them (docs/translations.md): a language is a file, not code. The built-in ones live in
notifier/translations; TRANSLATION_DIRS adds directories searched first. A text missing from a
locale's catalog falls back to Vietnamese, the default of everything a contact sees, and only
then to the msgid itself.

Admin pages name their texts by key (`t("nav_campaigns")`), the public pages and mail by their
English source text (`t("Skip to main content")`): both are msgids of the one `messages` domain.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from gettext import NullTranslations
from pathlib import Path

from babel.support import Translations
from flask import current_app, has_app_context

from notifier.infra.settings import settings_of

BUILT_IN = Path(__file__).resolve().parents[1] / "translations"
DOMAIN = "messages"
DEFAULT_LOCALE = "vi"


def N_(msgid: str) -> str:
    """Marks a text for extraction where it is defined; it is translated where it is shown."""
    return msgid


def NP_(context: str, msgid: str) -> tuple[str, str]:
    """N_ for a text that needs a context to tell it apart (one English word, two meanings)."""
    return context, msgid


def directories() -> tuple[str, ...]:
    """TRANSLATION_DIRS first, so an operator's catalog can add or override a language."""
    extra = settings_of(current_app).TRANSLATION_DIRS if has_app_context() else []
    return (*extra, str(BUILT_IN))


@functools.cache
def _load(locale: str, dirs: tuple[str, ...]) -> NullTranslations:
    merged = Translations(domain=DOMAIN)
    # merge() lets the later catalog win: the built-in one goes first, the operator's over it.
    for directory in reversed(dirs):
        found = Translations.load(directory, [locale], DOMAIN)
        if isinstance(found, Translations):
            merged.merge(found)
    return merged


@functools.cache
def _chain(locale: str, dirs: tuple[str, ...]) -> NullTranslations:
    catalog = _load(locale, dirs)
    if locale != DEFAULT_LOCALE:
        # A copy: add_fallback changes the catalog it is called on, which _load shares.
        catalog = Translations(domain=DOMAIN)
        catalog.merge(_load(locale, dirs))  # type: ignore[arg-type]
        catalog.add_fallback(_load(DEFAULT_LOCALE, dirs))
    return catalog


def catalog(locale: str, dirs: Sequence[str] | None = None) -> NullTranslations:
    """The catalog of `locale`, falling back to Vietnamese; cached for the process."""
    return _chain(locale, tuple(dirs) if dirs is not None else directories())


def gettext(locale: str, msgid: str) -> str:
    return catalog(locale).gettext(msgid)


def pgettext(locale: str, context: str, msgid: str) -> str:
    return catalog(locale).pgettext(context, msgid)


def has_message(msgid: str, dirs: Sequence[str] | None = None) -> bool:
    """Whether the default catalog holds msgid: every text exists in Vietnamese first."""
    default = _load(DEFAULT_LOCALE, tuple(dirs) if dirs is not None else directories())
    return msgid in getattr(default, "_catalog", {})


def available(dirs: Sequence[str] | None = None) -> list[str]:
    """Locales that have a compiled catalog in one of the directories."""
    found = set()
    for directory in dirs if dirs is not None else directories():
        for mo in Path(directory).glob(f"*/LC_MESSAGES/{DOMAIN}.mo"):
            found.add(mo.parents[1].name)
    return sorted(found)


def texts(locale: str) -> dict[str, Callable[..., str]]:
    """`t` and `pgettext` for a page or mail a contact reads, in `locale`."""
    chosen = catalog(locale)
    return {"t": chosen.gettext, "pgettext": chosen.pgettext}
