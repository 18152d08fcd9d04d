"""Shared steps for integration tests: real services, real data, no shortcuts around the rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import select

from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import templates
from notifier.contacts import consent_ledger as consent
from notifier.contacts import contacts
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import is_open, unit_of_work
from notifier.models import Campaign, ConsentSource
from notifier.processes.worker import run_worker


@contextmanager
def committed() -> Iterator[None]:
    """What an entry point does around a test's direct calls of use cases: one unit of work,
    committed when the block ends and only then enqueueing its jobs (joined if one is open)."""
    if is_open():
        yield
        return
    with unit_of_work():
        yield


def web_grant(contact_id: int, purpose_key: str) -> None:
    version = profile().purpose(purpose_key).notice_version
    evidence = consent.Evidence(
        source=ConsentSource.WEB_FORM, notice_version=version, ip="203.0.113.7", user_agent="UA"
    )
    with committed():
        consent.grant(contact_id, purpose_key, evidence)


def make_contact(email: str, grants: tuple[str, ...] = (), **fields: Any) -> int:
    with committed():
        contact = contacts.save_contact({"email": email, **fields})
        for purpose_key in grants:
            web_grant(contact.id, purpose_key)
        return contact.id


def layout_template(kind: str, purpose_key: str) -> int:
    layout = builtin_layouts()[kind]
    with committed():
        template = templates.save_template(
            templates.TemplateInput(
                name=f"{kind} {purpose_key}",
                kind=kind,
                purpose_key=purpose_key,
                subject=layout.subject,
                body_mjml=layout.body,
                text=layout.text,
                variants={"en": dict(layout.variants)["en"]},  # as the admin editor copies a layout
            )
        )
        return template.id


def sample_data(kind: str, locale: str = "vi") -> dict[str, Any]:
    """The layout's sample in the active profile's name, through JSON as a campaign stores it."""
    return json.loads(json.dumps(templates.sample_for(kind)[locale]))


def start_campaign(kind: str, purpose_key: str, **audience: Any) -> int:
    with committed():
        campaign = campaigns.create_campaign(
            campaigns.CampaignInput(
                name=f"{kind} campaign",
                kind=kind,
                purpose_key=purpose_key,
                template_id=layout_template(kind, purpose_key),
                audience=audience,
                data=sample_data(kind),
            )
        )
        campaigns.schedule(campaign.id)
        return campaign.id


def drain(app: Flask) -> None:
    """A real RQ worker in this process, until the queues are empty."""
    run_worker(app, ["notices", "campaigns", "send"], burst=True)


def promotion_campaigns(count: int) -> list[int]:
    """`count` draft promotions on the built-in layout, made as rows (no planning): for tests
    that write a campaign's ledger or events themselves. Every campaign id, oldest first."""
    promotions = layout_template("promotion", "promotions")
    with committed():
        for n in range(count):
            db.session.add(
                Campaign(
                    name=f"c{n}",
                    kind="promotion",
                    purpose_key="promotions",
                    template_id=promotions,
                    audience={},
                    data={},
                )
            )
    return list(db.session.scalars(select(Campaign.id).order_by(Campaign.id)))
