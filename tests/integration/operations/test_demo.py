"""Demo data on a real database for both profiles: idempotent, varied, made by the services."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask.testing import FlaskCliRunner

from notifier.cli import main
from notifier.delivery.eligibility import decision_for
from notifier.delivery.rendering.compiler import compile_template
from notifier.domain.consent_rules import Reason
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import (
    ConsentEvent,
    ConsentState,
    Contact,
    StaffUser,
    Suppression,
    Template,
    TemplateVersion,
    utcnow,
)
from notifier.operations.demo import BOUNCED, PEOPLE, Story, admin_email, load_demo

PROFILES = pytest.mark.parametrize("profile_name", ["dcnet", "caycanhhoanggia"])


def table_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
        for table in db.metadata.sorted_tables
    }


def contact(story: Story) -> Contact:
    email = next(p.email for p in PEOPLE if p.story is story)
    found = db.session.scalar(sa.select(Contact).where(Contact.email == email))
    assert found is not None
    return found


@PROFILES
def test_loading_twice_changes_nothing(app: object) -> None:
    first = load_demo()
    before = table_counts()
    second = load_demo()
    assert table_counts() == before
    assert before["contacts"] == len(PEOPLE) == 25
    assert "(25 new)" in first and "(0 new)" in second


@PROFILES
def test_consent_is_varied_and_backed_by_evidence(app: object) -> None:
    load_demo()
    statuses = set(db.session.scalars(sa.select(ConsentState.status)))
    assert statuses == {"granted", "pending", "withdrawn"}
    events = list(db.session.scalars(sa.select(ConsentEvent)))
    admin = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == admin_email()))
    assert admin is not None and admin.role == "admin"
    web = [e for e in events if e.source == "web_form"]
    hotline = [e for e in events if e.source == "hotline"]
    assert web and all(e.ip and e.user_agent and e.notice_sha256 for e in web)
    assert hotline and all(e.staff_id == admin.id and e.notice_sha256 for e in hotline)
    refusals = {e.source for e in events if e.action == "withdraw"}
    assert refusals == {"one_click", "email", "phone"}
    assert all(e.occurred_at < utcnow() for e in events)


@PROFILES
def test_each_story_leads_to_the_decision_it_should(app: object) -> None:
    load_demo()
    first_ad = next(p.key for p in profile().purposes if p.is_advertising)
    now = utcnow()
    expected = {
        Story.WEB_ALL: Reason.ALLOWED,
        Story.HOTLINE: Reason.ALLOWED,
        Story.PENDING: Reason.PENDING_CONFIRMATION,
        Story.WITHDRAWN: Reason.WITHDRAWN,
        Story.WITHDRAWN_ALL: Reason.WITHDRAWN,
        Story.NEVER: Reason.NO_CONSENT,
    }
    for story, reason in expected.items():
        decision = decision_for(contact(story).id, first_ad, now)
        assert decision.reason is reason, story
    bounced = db.session.scalar(sa.select(Contact).where(Contact.email == BOUNCED))
    assert bounced is not None
    assert decision_for(bounced.id, first_ad, now).reason is Reason.SUPPRESSED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Suppression)) == 1


@PROFILES
def test_contacts_look_real_and_use_reserved_domains_only(app: object) -> None:
    load_demo()
    contacts = list(db.session.scalars(sa.select(Contact)))
    domains = {c.email.partition("@")[2].rpartition(".")[0].rpartition(".")[2] for c in contacts}  # type: ignore[union-attr]
    assert domains == {"example"}
    assert sum(c.locale == "en" for c in contacts) >= 3
    assert any("ễ" in c.name or "ị" in c.name for c in contacts)
    assert all(c.tags and c.attributes and c.phone and c.address for c in contacts)
    assert any(c.organisation and c.contact_person for c in contacts)


def test_dcnet_has_one_customer_whose_contract_ended(app: object) -> None:
    load_demo()
    today = utcnow().date()
    ended = list(db.session.scalars(sa.select(Contact).where(Contact.contract_ends_on < today)))
    assert len(ended) == 1 and "het-hop-dong" in ended[0].tag_names
    decision = decision_for(ended[0].id, "renewal", utcnow())
    assert decision.reason is Reason.CONTRACT_ENDED


@PROFILES
def test_one_compiling_sample_template_per_purpose(app: object) -> None:
    shipped = set(db.session.scalars(sa.select(Template.id)))  # the notice types' own, from setup
    load_demo()
    templates = [t for t in db.session.scalars(sa.select(Template)) if t.id not in shipped]
    active = profile()
    assert sorted(t.purpose_key for t in templates) == sorted(p.key for p in active.purposes)
    for template in templates:
        purpose = active.purpose(template.purpose_key)
        version = db.session.scalar(
            sa.select(TemplateVersion).where(TemplateVersion.template_id == template.id)
        )
        assert version is not None and version.body_mjml == template.body_mjml
        assert (template.kind == "renewal") is not purpose.is_advertising
        compile_template(
            template.subject,
            template.body_mjml,
            template.text,
            advertising=purpose.is_advertising,
            label=active.advertising_label,
        )


def test_the_cli_command_prints_a_summary(runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, ["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "25 contacts (25 new)" in result.output
    assert "granted" in result.output and "withdrawn" in result.output
