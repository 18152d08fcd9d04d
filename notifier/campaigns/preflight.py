"""Before a campaign is scheduled: render its template for every shape of contact its audience
holds, and refuse an empty audience, so a campaign cannot end "0/0" or fail message by message.

A "shape" is what the template can see of a contact besides the values themselves: the locale,
whether there is a name, and which attributes are present (and which are empty). Contacts of one
shape render alike, so one render per shape checks the whole audience in a few renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from notifier.delivery.composer import Recipient, cached_composer
from notifier.delivery.holdings import holdings_of, window_of
from notifier.delivery.rendering.errors import TemplateError
from notifier.domain.errors import ValidationFailed
from notifier.infra.extensions import db
from notifier.models import Campaign, Contact, Template, utcnow

EXAMPLES = 3  # addresses named per failure: enough to find the pattern, not a data dump
NO_RECIPIENTS = "no recipients: the filters select no one the purpose may reach"
Shape = tuple[str, bool, frozenset[tuple[str, bool]]]


@dataclass
class Failure:
    """One reason the template cannot be rendered, how many recipients it hits, a few of them."""

    reason: str
    count: int = 0
    examples: list[str] = field(default_factory=list)  # addresses, for those who may see them
    contact_ids: list[int] = field(default_factory=list)  # the same recipients, by id


class PreflightFailed(ValidationFailed):
    """Scheduling refused: `errors` for pages and problems, `failures` with counts and examples."""

    def __init__(self, errors: dict[str, str], total: int, failures: list[Failure]) -> None:
        super().__init__(errors)
        self.total, self.failures = total, failures


@dataclass
class _Group:
    first: Any  # the row rendered for the whole shape
    count: int = 0
    examples: list[str] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)


def check(campaign: Campaign, audience: Any) -> None:
    """Raises PreflightFailed when the audience (a SELECT of contacts, as planning will run it)
    is empty or the template fails for anyone in it."""
    query = audience.with_only_columns(
        Contact.id, Contact.email, Contact.name, Contact.locale, Contact.time_zone,
        Contact.attributes,
    )  # fmt: skip
    groups: dict[Shape, _Group] = {}
    total = 0
    for row in db.session.execute(query.execution_options(yield_per=2000)):
        total += 1
        group = groups.setdefault(_shape(row), _Group(row))
        group.count += 1
        if len(group.examples) < EXAMPLES:
            group.examples.append(row.email or f"#{row.id}")
            group.contact_ids.append(row.id)
    if total == 0:
        raise PreflightFailed({"audience": NO_RECIPIENTS}, 0, [])
    failures = _render_all(campaign, groups.values())
    if failures:
        count = sum(f.count for f in failures)
        detail = f"{count} of {total} recipients cannot be rendered"
        raise PreflightFailed({"data": detail}, total, failures)


def _shape(row: Any) -> Shape:
    attributes = row.attributes or {}
    present = frozenset((str(k), v is None or v == "") for k, v in attributes.items())
    locale = row.locale if row.locale in ("vi", "en") else "vi"
    return locale, bool(row.name), present


def _render_all(campaign: Campaign, groups: Any) -> list[Failure]:
    template = db.session.get(Template, campaign.template_id)
    assert template is not None  # a campaign keeps its template (foreign key)
    # Each shape's locale picks its variant: an audience with `en` contacts renders the `en` one.
    composer = cached_composer(
        template.id, template.version, template.sources(), campaign.purpose_key
    )
    data = dict(campaign.data or {})
    failures: dict[str, Failure] = {}
    groups = list(groups)
    # A renewal campaign's recipients bring their own subscription: each shape's first row
    # renders with its own (one query), as the claim will give it.
    window = window_of(campaign.audience, campaign.time_zone, utcnow())
    held = holdings_of([g.first.id for g in groups], window) if window is not None else {}
    for group in groups:
        row = group.first
        holdings = held.get(row.id)
        recipient = Recipient(
            row.id, row.email or "", row.name, row.locale, dict(row.attributes or {}),
            row.time_zone,
            subscription=holdings.expiring if holdings else None,
            subscriptions=holdings.active if holdings else (),
        )  # fmt: skip
        try:
            composer.compose(recipient, data, f"preflight-{campaign.id}")
        except (TemplateError, ValueError) as exc:  # what the send loop counts as render_failed
            failure = failures.setdefault(str(exc), Failure(str(exc)))
            failure.count += group.count
            room = EXAMPLES - len(failure.examples)
            failure.examples.extend(group.examples[:room])
            failure.contact_ids.extend(group.contact_ids[:room])
    return sorted(failures.values(), key=lambda f: -f.count)
