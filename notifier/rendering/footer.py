"""The system footer: sender identity, then the refusal section; no template can remove it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache, lru_cache

from jinja2 import Template
from markupsafe import escape

from notifier.profile import LOCALES, Identity, Purpose
from notifier.rendering.environment import SYSTEM


@dataclass(frozen=True)
class FooterData:
    """What the footer shows one recipient; `locale` also sets the language of the whole message."""

    advertising: bool
    locale: str
    company: str
    phone: str
    email: str
    address: str
    website: str
    purpose_name: str
    unsubscribe_url: str
    unsubscribe_all_url: str
    preferences_url: str
    unsubscribe_mailbox: str
    hotline: str

    def __post_init__(self) -> None:
        if self.locale not in LOCALES:
            raise ValueError(f"locale must be one of {', '.join(LOCALES)}, not {self.locale!r}")
        for name in ("unsubscribe_url", "unsubscribe_all_url", "preferences_url"):
            if not getattr(self, name).startswith(("https://", "http://")):
                raise ValueError(f"{name} must be an http(s) URL")
        required = ["company", "unsubscribe_mailbox", "hotline", "purpose_name"]
        if self.advertising:  # Decree 91/2020 Art 19: all five identity items in advertising
            required += ["phone", "email", "address", "website"]
        missing = [name for name in required if not getattr(self, name).strip()]
        if missing:
            raise ValueError(f"footer needs {', '.join(missing)}")

    @property
    def website_url(self) -> str:
        return self.website if "://" in self.website else f"https://{self.website}"

    @classmethod
    def for_purpose(
        cls,
        identity: Identity,
        purpose: Purpose,
        locale: str,
        *,
        unsubscribe_url: str,
        unsubscribe_all_url: str,
        preferences_url: str,
        hotline: str | None = None,
    ) -> FooterData:
        return cls(
            advertising=purpose.is_advertising,
            locale=locale,
            company=identity.company,
            phone=identity.phone,
            email=identity.email,
            address=identity.address,
            website=identity.website,
            purpose_name=purpose.name.get(locale),
            unsubscribe_url=unsubscribe_url,
            unsubscribe_all_url=unsubscribe_all_url,
            preferences_url=preferences_url,
            unsubscribe_mailbox=identity.unsubscribe_mailbox,
            hotline=hotline or identity.phone,
        )


@cache
def _template(name: str) -> Template:
    return SYSTEM.get_template(name)


# Only these links differ between the recipients of one campaign: the footer is rendered once
# per sender, purpose and locale with stand-ins, and each recipient's links replace them.
_LINKS = {
    "unsubscribe_url": "https://links.invalid/unsubscribe-one",
    "unsubscribe_all_url": "https://links.invalid/unsubscribe-all",
    "preferences_url": "https://links.invalid/preferences",
}


def footer_html(footer: FooterData) -> str:
    return _with_links(_rendered("footer.html", _skeleton(footer)), footer, escape)


def footer_text(footer: FooterData) -> str:
    return _with_links(_rendered("footer.txt", _skeleton(footer)), footer, str)


def _skeleton(footer: FooterData) -> FooterData:
    return replace(
        footer,
        unsubscribe_url=_LINKS["unsubscribe_url"],
        unsubscribe_all_url=_LINKS["unsubscribe_all_url"],
        preferences_url=_LINKS["preferences_url"],
    )


@lru_cache(maxsize=256)
def _rendered(name: str, skeleton: FooterData) -> str:
    return _template(name).render(f=skeleton, locale=skeleton.locale)


def _with_links(text: str, footer: FooterData, quote: Callable[[str], object]) -> str:
    for name, stand_in in _LINKS.items():
        text = text.replace(stand_in, str(quote(getattr(footer, name))))
    return text
