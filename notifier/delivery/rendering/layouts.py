"""Built-in email layouts (promotion, event, renewal) with vi/en sample data, and their previews."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from notifier.delivery.rendering.compiler import CompiledTemplate, RenderedMessage, compile_template
from notifier.delivery.rendering.environment import EMAILS_DIR
from notifier.delivery.rendering.footer import FooterData
from notifier.domain.profile import Localized

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
    samples: Mapping[str, Mapping[str, Any]]

    def compile(self, label: str = "[QC]") -> CompiledTemplate:
        return compile_template(
            self.subject, self.body, self.text, advertising=self.advertising, label=label
        )

    def preview(self, locale: str, footer: FooterData | None = None) -> RenderedMessage:
        """The layout rendered with its own sample data; the footer defaults to a sample sender."""
        return self.compile().render(self.samples[locale], footer or self.sample_footer(locale))

    def sample_footer(self, locale: str) -> FooterData:
        sender = _preview_sender()
        return FooterData(
            advertising=self.advertising,
            locale=locale,
            purpose_name=self.purpose_name.get(locale),
            unsubscribe_url=f"{sender['base_url']}/u/PREVIEW-{self.key}",
            unsubscribe_all_url=f"{sender['base_url']}/u/PREVIEW-all",
            preferences_url=f"{sender['base_url']}/preferences/PREVIEW",
            **{name: sender[name] for name in _SENDER_FIELDS},
        )


_SENDER_FIELDS = (
    "company", "phone", "email", "address", "website", "unsubscribe_mailbox", "hotline",
)  # fmt: skip


def _read_toml(name: str) -> dict[str, Any]:
    return tomllib.loads((EMAILS_DIR / name).read_text(encoding="utf-8"))


@cache
def _preview_sender() -> dict[str, str]:
    return _read_toml("preview.toml")["sender"]


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
                samples=data["sample"],
            )
        )
    return tuple(layouts)


def builtin_layouts() -> dict[str, Layout]:
    return {layout.key: layout for layout in _load()}
