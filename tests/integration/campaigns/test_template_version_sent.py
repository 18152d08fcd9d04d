"""A campaign sends the template version staff scheduled, not one saved after it."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

from flask import Flask

from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import templates
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.infra.extensions import db
from notifier.models import Campaign
from tests.integration.helpers import committed, drain, make_contact, sample_data
from tests.integration.test_admin_support import make_staff
from tests.smtp_server import SmtpTestServer


def template_input(subject: str) -> templates.TemplateInput:
    layout = builtin_layouts()["promotion"]
    return templates.TemplateInput(
        "Promo", "promotion", "promotions", subject, layout.body, layout.text
    )


def subjects(server: SmtpTestServer) -> list[str]:
    parsed = (
        email.message_from_bytes(m.data, policy=email.policy.default) for m in server.messages
    )
    return [str(message["Subject"]) for message in parsed]


def test_an_edit_after_scheduling_is_not_sent_and_the_ledger_names_the_version(
    app: Flask, smtp: SmtpTestServer
) -> None:
    make_contact("lan@example.com", ("promotions",))
    with committed():
        template = templates.save_template(template_input("Ưu đãi mùa hè"))
        draft = campaigns.create_campaign(
            campaigns.CampaignInput(
                "Summer", "promotion", "promotions", template.id, data=sample_data("promotion")
            )
        )
        # Edited before scheduling: the campaign sends this second version.
        templates.save_template(template_input("Ưu đãi mùa hè (bản 2)"), template.id)
        campaigns.schedule(draft.id, campaigns.utcnow() + timedelta(hours=1))
        # Edited after scheduling: a third version, which this campaign must not send.
        templates.save_template(template_input("Bản nháp chưa duyệt"), template.id)
        campaign_id = draft.id
    # A test copy of the scheduled campaign shows what it will send too.
    make_staff("marketing@example.com", "marketing")
    with committed():
        campaigns.send_test(campaign_id, "marketing@example.com")
    (copy,) = subjects(smtp)
    assert copy.endswith("Ưu đãi mùa hè (bản 2)")
    smtp.messages.clear()
    with committed():
        campaigns.start_due_campaigns(campaigns.utcnow() + timedelta(hours=2))
    drain(app)
    assert [s.removeprefix("[QC] ") for s in subjects(smtp)] == ["Ưu đãi mùa hè (bản 2)"]
    assert db.session.get(Campaign, campaign_id).template_version == 2  # type: ignore[union-attr]
