"""The languages a contact may read, and which variant of a template a contact gets.

Vietnamese is the default and the one variant every template must have; a contact whose locale
has no variant of its own (or whose locale is unknown) reads the Vietnamese one, whole: subject,
body, dates and footer in one language, never a mix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_LOCALE = "vi"
LOCALES = ("vi", "en")


@dataclass(frozen=True)
class Variant:
    """One language of a template: what staff write for it."""

    subject: str
    body_mjml: str
    text: str | None = None


# Every variant of one template version, the Vietnamese first: hashable, so a compiled template
# can be cached under it.
Variants = tuple[tuple[str, Variant], ...]


def variant_locale(wanted: str | None, available: Iterable[str]) -> str:
    """The locale whose variant a contact reads: theirs if the template has it, else Vietnamese."""
    return wanted if wanted in LOCALES and wanted in set(available) else DEFAULT_LOCALE


def only_vietnamese(subject: str, body_mjml: str, text: str | None = None) -> Variants:
    return ((DEFAULT_LOCALE, Variant(subject, body_mjml, text)),)
