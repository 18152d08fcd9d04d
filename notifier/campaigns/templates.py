"""Save staff templates: compile and render a sample before anything is stored; keep versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from notifier.contacts.consent_ledger import purpose_or_error
from notifier.delivery.composer import Recipient, build_composer
from notifier.delivery.rendering.budget import cpu_budget
from notifier.delivery.rendering.errors import TemplateError
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.delivery.rendering.sample_contact import placeholder_attributes
from notifier.domain.errors import NotFound, ValidationFailed
from notifier.domain.locales import DEFAULT_LOCALE, LOCALES, Variant, Variants
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import CampaignKind, Template, TemplateVersion

SAMPLE = Recipient(
    contact_id=1, email="khach.hang@example.com", name="Nguyễn Văn An", locale="vi", attributes={}
)


@dataclass(frozen=True)
class TemplateInput:
    """`subject`, `body_mjml` and `text` are the Vietnamese variant (required); `variants`
    holds the other locales' that staff wrote (English is optional)."""

    name: str
    kind: str
    purpose_key: str
    subject: str
    body_mjml: str
    text: str | None = None
    variants: Mapping[str, Variant] = field(default_factory=dict)

    def sources(self) -> Variants:
        vietnamese = Variant(self.subject, self.body_mjml, self.text)
        others = [(k, v) for k, v in self.variants.items() if k != DEFAULT_LOCALE]
        return ((DEFAULT_LOCALE, vietnamese), *sorted(others, key=lambda kv: LOCALES.index(kv[0])))


def check_template(data: TemplateInput, sample_data: dict | None = None) -> None:
    """Compile every variant, then render each for a sample contact of its locale with that
    locale's sample data; errors name the variant, part and line."""
    errors = {}
    if not data.name.strip():
        errors["name"] = "is required"
    if data.kind not in {k.value for k in CampaignKind}:
        errors["kind"] = f"one of {', '.join(k.value for k in CampaignKind)}"
    for locale, variant in data.variants.items():
        if locale not in LOCALES or locale == DEFAULT_LOCALE:
            errors[f"variants.{locale}"] = "is not a locale with its own variant (en)"
        elif not variant.subject.strip() or not variant.body_mjml.strip():
            errors[f"variants.{locale}"] = "needs a subject and a body, or nothing at all"
    if errors:
        raise ValidationFailed(errors)
    purpose_or_error(data.purpose_key)
    sources = data.sources()
    composer = build_composer(sources, data.purpose_key)
    sample = sample_data if sample_data is not None else sample_for(data.kind)
    # The sample contact carries every attribute the template reads (contact.tier...): a real
    # contact may have it, so its absence from the sample must not refuse the template.
    attributes = placeholder_attributes(
        *(part for _, v in sources for part in (v.subject, v.body_mjml, v.text or ""))
    )
    # One budget for every variant: a save costs the site at most that much CPU time.
    with cpu_budget():
        for locale, _ in sources:
            recipient = Recipient(**{**SAMPLE.__dict__, "locale": locale, "attributes": attributes})
            composer.compose(recipient, sample.get(locale, sample.get("vi", {})), "sample")


def sample_for(kind: str) -> dict:
    """The kind's layout sample per locale, in the active sender's name and dated from today."""
    layout = builtin_layouts().get(kind)
    if layout is None:
        return {"vi": {}, "en": {}}
    return layout.samples(datetime.now(UTC), profile().identity)


def save_template(
    data: TemplateInput,
    template_id: int | None = None,
    staff_id: int | None = None,
    sample_data: dict | None = None,
) -> Template:
    check_template(data, sample_data)
    if template_id is None:
        template = Template(version=0)
        db.session.add(template)
    else:
        found = db.session.get(Template, template_id)
        if found is None:
            raise NotFound(f"template {template_id}")
        template = found
    template.name, template.kind = data.name.strip(), data.kind
    template.purpose_key = data.purpose_key
    template.set_sources(data.sources())
    template.version = (template.version or 0) + 1
    template.created_by = template.created_by or staff_id
    db.session.flush()
    kept = TemplateVersion(template_id=template.id, version=template.version, saved_by=staff_id)
    kept.set_sources(data.sources())
    db.session.add(kept)
    db.session.flush()
    return template


def list_templates(after_id: int, limit: int) -> Sequence[Template]:
    return db.session.scalars(
        select(Template).where(Template.id > after_id).order_by(Template.id).limit(limit)
    ).all()


def from_layout(
    layout_key: str, name: str, purpose_key: str, staff_id: int | None = None
) -> tuple[Template, dict[str, dict[str, Any]]]:
    """A new template copied from a built-in layout (both variants, as the admin editor copies
    one), with the layout's sample data: campaign `data` that renders it."""
    layout = builtin_layouts().get(layout_key)
    if layout is None:
        raise NotFound(f"layout {layout_key}")
    if purpose_or_error(purpose_key).is_advertising != layout.advertising:
        kind = "an advertising" if layout.advertising else "a service"
        raise ValidationFailed({"purpose": f"the {layout_key} layout needs {kind} purpose"})
    variants = dict(layout.variants)
    data = TemplateInput(
        name, layout.key, purpose_key, layout.subject, layout.body, layout.text,
        {k: v for k, v in variants.items() if k != DEFAULT_LOCALE},
    )  # fmt: skip
    return save_template(data, staff_id=staff_id), sample_for(layout.key)


def get_template(template_id: int) -> Template:
    template = db.session.get(Template, template_id)
    if template is None:
        raise NotFound(f"template {template_id}")
    return template


__all__ = [
    "TemplateError",
    "TemplateInput",
    "check_template",
    "from_layout",
    "get_template",
    "list_templates",
    "save_template",
]
