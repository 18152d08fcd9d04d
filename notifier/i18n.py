"""Vietnamese first: the locale of a request and the texts of the pages, from gettext catalogs.

The catalogs themselves (files, fallback to Vietnamese) are notifier/infra/translations.py; this
module holds the two rules that pick a request's language, and wires them into Flask-Babel so
its gettext, `_()` in templates and its date formats agree with ours.
"""

from __future__ import annotations

from gettext import NullTranslations
from typing import TYPE_CHECKING

from babel import Locale
from flask import Flask, request, session
from flask_babel import Babel, Domain
from flask_login import current_user

from notifier.infra import translations
from notifier.infra.context import profile, settings

if TYPE_CHECKING:
    from notifier.models import Contact


def locales() -> list[str]:
    """The configured languages (LOCALES): a third one is a catalog plus this setting."""
    return list(settings().LOCALES)


def languages() -> list[tuple[str, str]]:
    """Each configured language with its own name for itself (Tiếng Việt, English, français)."""
    return [(code, Locale.parse(code).get_display_name(code) or code) for code in locales()]


def current_locale() -> str:
    """Admin pages: ?lang= for this session, else the session's choice, else the staff member's,
    else vi. Asked per call, not once per request: signing in or choosing a language changes it."""
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in locales():
        _remember(chosen)
        return str(chosen)
    if current_user and current_user.is_authenticated and current_user.locale in locales():
        return str(current_user.locale)
    return "vi"


def page_locale(contact: Contact | None = None) -> str:
    """Public pages: ?lang= (remembered), else the contact's language, else the default."""
    chosen = request.args.get("lang")
    if chosen in locales():
        _remember(chosen)
        return str(chosen)
    if session.get("lang") in locales():
        return str(session["lang"])
    if contact is not None and contact.locale in locales():
        return contact.locale
    return profile().default_locale


def _remember(chosen: str) -> None:
    """Write the session only when the choice changes. A write sends the whole cookie back, and a
    background request (the segment count as one types) would then overwrite a cookie the page's
    own save had just set, with its flashed "saved" message."""
    if session.get("lang") != chosen:
        session["lang"] = chosen


def select_locale() -> str:
    """Flask-Babel's locale selector: each blueprint's rule (public pages pass their contact to
    page_locale through flask_babel.force_locale when they render)."""
    return page_locale() if request.blueprint == "public" else current_locale()


class _Catalogs(Domain):
    """Flask-Babel's domain, reading our catalogs with their fallback to Vietnamese."""

    def get_translations(self) -> NullTranslations:
        from flask_babel import get_locale

        return translations.catalog(str(get_locale() or translations.DEFAULT_LOCALE))


class _Babel(Babel):
    @property
    def domain_instance(self) -> Domain:
        return _CATALOGS


_CATALOGS = _Catalogs()


def init_i18n(app: Flask) -> None:
    app.config["BABEL_DEFAULT_LOCALE"] = translations.DEFAULT_LOCALE
    _Babel(app, locale_selector=select_locale)


def translate(key: str, **values: object) -> str:
    """An admin text by its key, in the staff member's language; {name} takes a value."""
    if not translations.has_message(key):
        # A typo or a key missing from the catalogs must fail where it is used, not show "key".
        raise KeyError(key)
    text = translations.gettext(current_locale(), key)
    return text.format(**values) if values else text


def has_message(key: str) -> bool:
    return translations.has_message(key)
