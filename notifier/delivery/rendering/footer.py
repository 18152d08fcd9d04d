"""The system footer: sender identity, then the refusal section; no template can remove it."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from functools import cache, lru_cache

from jinja2 import Template
from markupsafe import escape

from notifier.delivery.rendering.environment import SYSTEM
from notifier.delivery.rendering.stencil import Stencil
from notifier.domain.profile import LOCALES, Identity, Purpose


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
# per sender, purpose and locale with stand-ins, and each message is a join with its own links.
_LINKS = {
    "unsubscribe_url": "https://links.invalid/unsubscribe-one",
    "unsubscribe_all_url": "https://links.invalid/unsubscribe-all",
    "preferences_url": "https://links.invalid/preferences",
}
_STAND_INS = re.compile("(" + "|".join(re.escape(s) for s in _LINKS.values()) + ")")
_SENDER_FIELDS = tuple(f.name for f in fields(FooterData) if f.name not in _LINKS)


def footer_html(footer: FooterData) -> str:
    html, _ = footer_stencils(footer)
    return html.fill([str(escape(link)) for link in link_values(footer)])


def footer_text(footer: FooterData) -> str:
    _, text = footer_stencils(footer)
    return text.fill(link_values(footer))


def footer_stencils(footer: FooterData) -> tuple[Stencil, Stencil]:
    """The HTML and text footers of this sender, purpose and locale, cut at the links: slot i
    is the i-th of link_values() (a caller's own values may come first: see Stencil.then)."""
    sender = sender_of(footer)
    return _cut("footer.html", sender), _cut("footer.txt", sender)


def link_values(footer: FooterData) -> list[str]:
    return [getattr(footer, name) for name in _LINKS]


def sender_of(footer: FooterData) -> tuple[object, ...]:
    """Everything in the footer but the recipient's links."""
    return tuple([getattr(footer, name) for name in _SENDER_FIELDS])


@lru_cache(maxsize=256)
def _cut(name: str, sender: tuple[object, ...]) -> Stencil:
    """The footer rendered once with stand-in links, cut at them (a Stencil only reads)."""
    skeleton = FooterData(**dict(zip(_SENDER_FIELDS, sender, strict=True)), **_LINKS)  # type: ignore[arg-type]
    pieces = _STAND_INS.split(_template(name).render(f=skeleton, locale=skeleton.locale))
    order = list(_LINKS.values())
    return Stencil(pieces, [order.index(stand_in) for stand_in in pieces[1::2]])
