"""Which `data` fields a notice type's template needs, read from the template's Jinja AST, so the
API can refuse a notice at once instead of accepting it and failing at send time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import meta, nodes

from notifier.delivery.rendering.compiler import RenderedMessage, compile_template
from notifier.delivery.rendering.environment import STAFF_PLAIN
from notifier.delivery.rendering.layouts import builtin_layouts, sample_footer
from notifier.delivery.rendering.samples import make_sample
from notifier.domain.locales import LOCALES, Variant, Variants, variant_locale
from notifier.domain.profile import Identity, NoticeTypeSpec, Profile
from notifier.infra.extensions import db
from notifier.models import CampaignKind, NoticeType, Template, TemplateVersion

# What the composer puts in every template's context itself (see Composer.context and render).
COMPOSER_NAMES = frozenset({"contact", "contact_name", "time_zone", "locale", "links", "t"})
# Tests and filters that make a missing value harmless: `x is defined`, `x | default(...)`.
GUARDS = frozenset({"defined", "undefined"})
DEFAULTS = frozenset({"default", "d"})


# The template filters that say what kind of value a field must hold; what each kind accepts
# is stated once, as a check and as JSON Schema, in notifier/api/notice_data.py.
KINDS = frozenset({"date", "time", "money", "number"})


@dataclass(frozen=True)
class DataFields:
    required: frozenset[str]
    optional: frozenset[str]
    kinds: tuple[tuple[str, str], ...]  # (field, filter) pairs, from `field | filter`


@lru_cache(maxsize=256)
def data_fields(subject: str, body: str, text: str | None) -> DataFields:
    """Top-level names the parts read that the composer does not supply."""
    used: set[str] = set()
    guarded: set[str] = set()
    kinds: set[tuple[str, str]] = set()
    for source in (subject, body, text or ""):
        tree = STAFF_PLAIN.parse(source)
        used |= meta.find_undeclared_variables(tree)
        guarded |= _guarded(tree)
        kinds |= {
            (f.node.name, f.name)
            for f in tree.find_all(nodes.Filter)
            if f.name in KINDS and isinstance(f.node, nodes.Name)
        }
    names = used - COMPOSER_NAMES - set(STAFF_PLAIN.globals)
    return DataFields(
        frozenset(names - guarded),
        frozenset(names & guarded),
        tuple(sorted(k for k in kinds if k[0] in names)),
    )


def variants_fields(variants: Variants) -> DataFields:
    """What every variant needs together: a notice must fit whichever its contact reads."""
    found = [data_fields(v.subject, v.body_mjml, v.text) for _, v in variants]
    required = frozenset[str]().union(*(f.required for f in found))
    optional = frozenset[str]().union(*(f.optional for f in found)) - required
    kinds = tuple(sorted({kind for f in found for kind in f.kinds}))
    return DataFields(required, optional, kinds)


def _guarded(tree: nodes.Template) -> set[str]:
    found: set[str] = set()
    for test in tree.find_all(nodes.Test):
        if test.name in GUARDS and isinstance(test.node, nodes.Name):
            found.add(test.node.name)
    for flt in tree.find_all(nodes.Filter):
        if flt.name in DEFAULTS and isinstance(flt.node, nodes.Name):
            found.add(flt.node.name)
    return found


def exists(type_key: str) -> bool:
    return db.session.get(NoticeType, type_key) is not None


def plain_body(text: str) -> str:
    """A shipped notice's text as its HTML body: one paragraph per line, the layout's footer."""
    lines = "<br />\n".join(text.strip().splitlines())
    return (
        # lang: mail clients and screen readers read the message in the variant's language.
        '<mjml lang="{{ locale }}"><mj-body><mj-section><mj-column><mj-text>\n'
        f"{lines}\n</mj-text></mj-column></mj-section></mj-body></mjml>"
    )


def shipped_template(spec: NoticeTypeSpec) -> Variants:
    """The variants of a profile's notice type: a built-in layout's, or its own text. Both are
    written with t("vi", "en"), so one source is the Vietnamese and the English variant."""
    if spec.layout is not None:
        layout = builtin_layouts().get(spec.layout)
        if layout is None:
            raise ValueError(f"notice type {spec.key}: no built-in layout {spec.layout!r}")
        return layout.variants
    assert spec.subject is not None and spec.text is not None  # the profile loader checks this
    source = Variant(spec.subject, plain_body(spec.text), spec.text)
    return tuple((locale, source) for locale in LOCALES)


def shipped_samples(
    spec: NoticeTypeSpec, now: dt.datetime, identity: Identity
) -> dict[str, dict[str, Any]]:
    """Sample `data` per locale for a shipped notice type: its layout's, or its own tables
    from the profile, branded from the identity and dated from `now`."""
    if spec.layout is not None:
        return builtin_layouts()[spec.layout].samples(now, identity)
    return {locale: make_sample(raw, now, identity) for locale, raw in spec.sample.items()}


def preview_notice(
    spec: NoticeTypeSpec, locale: str, now: dt.datetime, active: Profile
) -> RenderedMessage:
    """A shipped notice type rendered with its sample, as a contact of `locale` reads it (the
    variant that locale picks, its footer), with preview links in the footer."""
    variants = dict(shipped_template(spec))
    chosen = variant_locale(locale, variants)
    variant = variants[chosen]
    compiled = compile_template(
        variant.subject, variant.body_mjml, variant.text, advertising=False,
        label=active.advertising_label,
    )  # fmt: skip
    purpose = active.purpose(spec.purpose)
    footer = sample_footer(spec.key, False, purpose.name, chosen, active.identity)
    return compiled.render(shipped_samples(spec, now, active.identity)[chosen], footer)


def sync_notice_types(profile: Profile) -> None:
    """Create the profile's notice types that the database lacks, each with its template.
    Existing ones are left alone: staff may have edited their template since setup."""
    for spec in profile.notice_types:
        if db.session.get(NoticeType, spec.key) is not None:
            continue
        template = notice_template(spec.name.vi, spec.purpose, shipped_template(spec))
        db.session.add(
            NoticeType(key=spec.key, name=spec.name.vi, purpose_key=spec.purpose,
                       template_id=template.id, active=True)
        )  # fmt: skip
    db.session.flush()


def notice_template(name: str, purpose_key: str, variants: Variants) -> Template:
    """A notice type's own template, version 1 kept: what setup and a copied layout store."""
    template = Template(
        name=name, kind=CampaignKind.RENEWAL.value, purpose_key=purpose_key, version=1
    )
    template.set_sources(variants)
    db.session.add(template)
    db.session.flush()
    kept = TemplateVersion(template_id=template.id, version=1)
    kept.set_sources(variants)
    db.session.add(kept)
    db.session.flush()
    return template
