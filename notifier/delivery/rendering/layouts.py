"""Built-in email layouts (promotion, event, renewal) with vi/en sample data, and their previews."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from notifier.delivery.rendering.compiler import CompiledTemplate, RenderedMessage, compile_template
from notifier.delivery.rendering.environment import EMAILS_DIR
from notifier.delivery.rendering.footer import FooterData
from notifier.delivery.rendering.samples import brand_fields, make_sample
from notifier.domain.locales import LOCALES, Variant, Variants
from notifier.domain.profile import Identity, Localized

LAYOUT_KEYS = ("promotion", "event", "renewal")


@dataclass(frozen=True)
class Layout:
    """A starting template to copy: subject, MJML body, text part and sample data per locale."""

    key: str
    name: Localized
    purpose_name: Localized
    advertising: bool
    subject: str
    body: str
    text: str
    sample_tables: Mapping[str, Mapping[str, Any]]  # as in the TOML; see samples.make_sample

    @property
    def variants(self) -> Variants:
        """One source written with t("vi", "en"): it is both the Vietnamese and the English
        variant, each rendered in its own language with its own sample data."""
        source = Variant(self.subject, self.body, self.text)
        return tuple((locale, source) for locale in LOCALES)

    def compile(self, label: str = "[QC]") -> CompiledTemplate:
        return compile_template(
            self.subject, self.body, self.text, advertising=self.advertising, label=label
        )

    def sample(self, locale: str, now: dt.datetime, identity: Identity) -> dict[str, Any]:
        return make_sample(self.sample_tables[locale], now, identity)

    def samples(self, now: dt.datetime, identity: Identity) -> dict[str, dict[str, Any]]:
        """Campaign data with a variant per locale, as a campaign stores it."""
        return {locale: self.sample(locale, now, identity) for locale in self.sample_tables}

    def preview(
        self, locale: str, now: dt.datetime, identity: Identity, footer: FooterData | None = None
    ) -> RenderedMessage:
        """The layout rendered with its own sample data; the footer defaults to the identity's."""
        footer = footer or self.sample_footer(locale, identity)
        data = {**self.sample(locale, now, identity), "links": preview_links(footer)}
        return self.compile().render(data, footer)

    def sample_footer(self, locale: str, identity: Identity) -> FooterData:
        return sample_footer(self.key, self.advertising, self.purpose_name, locale, identity)


def preview_links(footer: FooterData) -> dict[str, str]:
    """`links` of a preview: the footer's stand-ins, and RSVP and web view links that name
    nobody."""
    base = footer.unsubscribe_url.partition("/u/")[0]
    return {
        "rsvp": f"{base}/e/PREVIEW",
        "web_view": f"{base}/m/PREVIEW",
        "unsubscribe": footer.unsubscribe_url,
        "preferences": footer.preferences_url,
    }


def sample_footer(
    key: str, advertising: bool, purpose_name: Localized, locale: str, identity: Identity
) -> FooterData:
    """The footer of a preview: the sender's identity, links that name no real contact."""
    base = brand_fields(identity)["website"]
    return FooterData(
        advertising=advertising,
        locale=locale,
        purpose_name=purpose_name.get(locale),
        unsubscribe_url=f"{base}/u/PREVIEW-{key}",
        unsubscribe_all_url=f"{base}/u/PREVIEW-all",
        preferences_url=f"{base}/preferences/PREVIEW",
        company=identity.company,
        phone=identity.phone,
        email=identity.email,
        address=identity.address,
        website=identity.website,
        unsubscribe_mailbox=identity.unsubscribe_mailbox,
        hotline=identity.phone,
    )


def _read_toml(name: str) -> dict[str, Any]:
    return tomllib.loads((EMAILS_DIR / name).read_text(encoding="utf-8"))


@cache
def _load() -> tuple[Layout, ...]:
    layouts = []
    for key in LAYOUT_KEYS:
        data = _read_toml(f"{key}.toml")
        layouts.append(
            Layout(
                key=key,
                name=Localized(**data["name"]),
                purpose_name=Localized(**data["purpose_name"]),
                advertising=data["advertising"],
                subject=data["subject"],
                body=(EMAILS_DIR / f"{key}.mjml").read_text(encoding="utf-8"),
                text=data["text"],
                sample_tables=data["sample"],
            )
        )
    return tuple(layouts)


def builtin_layouts() -> dict[str, Layout]:
    return {layout.key: layout for layout in _load()}
