"""Refuse MJML tags the compiler does not know: mrml passes `<mj-buton>` through to the HTML."""

from __future__ import annotations

import difflib
import re

from notifier.delivery.rendering.errors import Part, TemplateError
from notifier.delivery.rendering.markup import Protected

# MJML 4's components (https://documentation.mjml.io), as mjml-python (mrml) renders them.
KNOWN_TAGS = frozenset(
    {
        "mjml", "mj-head", "mj-body", "mj-include",
        "mj-attributes", "mj-all", "mj-class", "mj-breakpoint", "mj-font", "mj-html-attributes",
        "mj-html-attribute", "mj-selector", "mj-preview", "mj-style", "mj-title",
        "mj-accordion", "mj-accordion-element", "mj-accordion-title", "mj-accordion-text",
        "mj-button", "mj-carousel", "mj-carousel-image", "mj-column", "mj-divider", "mj-group",
        "mj-hero", "mj-image", "mj-navbar", "mj-navbar-link", "mj-raw", "mj-section",
        "mj-social", "mj-social-element", "mj-spacer", "mj-table", "mj-text", "mj-wrapper",
    }
)  # fmt: skip
_TAG = re.compile(r"<!--.*?-->|</?(?P<name>mj[\w.:-]*)", re.S | re.I)


def refuse_unknown_tags(protected: Protected) -> None:
    """A misspelt tag would vanish from the mail unnoticed: name it, its line and a guess."""
    for match in _TAG.finditer(protected.text):
        name = (match["name"] or "").lower()
        if not name or name in KNOWN_TAGS:
            continue
        guess = difflib.get_close_matches(name, KNOWN_TAGS, n=1)
        hint = f" (<{guess[0]}>?)" if guess else ""
        raise TemplateError(
            Part.BODY,
            protected.original_line(match.start()),
            f"MJML: thẻ không tồn tại / unknown tag <{name}>{hint}",
        )
