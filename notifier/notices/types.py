"""Which `data` fields a notice type's template needs, read from the template's Jinja AST, so the
API can refuse a notice at once instead of accepting it and failing at send time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from jinja2 import meta, nodes

from notifier.delivery.rendering.environment import STAFF_PLAIN
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.domain.profile import NoticeTypeSpec, Profile
from notifier.infra.extensions import db
from notifier.models import CampaignKind, NoticeType, Template, TemplateVersion

# What the composer puts in every template's context itself (see Composer.context and render).
COMPOSER_NAMES = frozenset({"contact", "contact_name", "time_zone", "locale", "links", "t"})
# Tests and filters that make a missing value harmless: `x is defined`, `x | default(...)`.
GUARDS = frozenset({"defined", "undefined"})
DEFAULTS = frozenset({"default", "d"})


def _is_moment(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        (dt.datetime.fromisoformat if "T" in value else dt.date.fromisoformat)(value)
    except ValueError:
        return False
    return True


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return isinstance(value, int | float | str) and Decimal(str(value)).is_finite()
    except InvalidOperation:
        return False


# A field the template passes through one of these filters must be of the kind it formats.
KINDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "date": (_is_moment, "must be a date, YYYY-MM-DD (or an RFC 3339 date-time)"),
    "time": (_is_moment, "must be an RFC 3339 date-time"),
    "money": (_is_number, "must be a number"),
    "number": (_is_number, "must be a number"),
}


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


def data_problems(type_key: object, data: Any) -> dict[str, str]:
    """`data.<field>` for each field the type's template needs and `data` lacks (or sets null)."""
    if not isinstance(type_key, str) or not isinstance(data, dict):
        return {}  # the schema names these
    notice_type = db.session.get(NoticeType, type_key)
    if notice_type is None or not notice_type.active:
        return {}
    template = db.session.get(Template, notice_type.template_id)
    if template is None:
        return {}
    fields = data_fields(template.subject, template.body_mjml, template.text)
    problems: dict[str, str] = {}
    for name, kind in fields.kinds:
        is_kind, detail = KINDS[kind]
        if data.get(name) is not None and not is_kind(data[name]):
            problems.setdefault(f"data.{name}", detail)
    for name in sorted(fields.required):
        if name not in data:
            problems[f"data.{name}"] = "is required by this notice type's template"
        elif data[name] is None:
            problems[f"data.{name}"] = "must not be null: this notice type's template prints it"
    return problems


def plain_body(text: str) -> str:
    """A shipped notice's text as its HTML body: one paragraph per line, the layout's footer."""
    lines = "<br />\n".join(text.strip().splitlines())
    return (
        "<mjml><mj-body><mj-section><mj-column><mj-text>\n"
        f"{lines}\n</mj-text></mj-column></mj-section></mj-body></mjml>"
    )


def shipped_template(spec: NoticeTypeSpec) -> tuple[str, str, str | None]:
    """(subject, MJML body, text) of a profile's notice type: a built-in layout, or its own text."""
    if spec.layout is not None:
        layout = builtin_layouts().get(spec.layout)
        if layout is None:
            raise ValueError(f"notice type {spec.key}: no built-in layout {spec.layout!r}")
        return layout.subject, layout.body, layout.text
    assert spec.subject is not None and spec.text is not None  # the profile loader checks this
    return spec.subject, plain_body(spec.text), spec.text


def sync_notice_types(profile: Profile) -> None:
    """Create the profile's notice types that the database lacks, each with its template.
    Existing ones are left alone: staff may have edited their template since setup."""
    for spec in profile.notice_types:
        if db.session.get(NoticeType, spec.key) is not None:
            continue
        subject, body, text = shipped_template(spec)
        template = Template(
            name=spec.name.vi, kind=CampaignKind.RENEWAL.value, purpose_key=spec.purpose,
            subject=subject, body_mjml=body, text=text, version=1,
        )  # fmt: skip
        db.session.add(template)
        db.session.flush()
        db.session.add(
            TemplateVersion(template_id=template.id, version=1, subject=subject, body_mjml=body,
                            text=text)
        )  # fmt: skip
        db.session.add(
            NoticeType(key=spec.key, name=spec.name.vi, purpose_key=spec.purpose,
                       template_id=template.id, active=True)
        )  # fmt: skip
    db.session.flush()
