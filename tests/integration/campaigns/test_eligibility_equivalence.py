"""One eligibility rule table, three readings: the claim-time decision (Python), the planning
SQL and the audience breakdown must agree on every contact, for every kind of purpose."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta

from flask import Flask
from sqlalchemy import select

from notifier.campaigns.audience_sql import ELIGIBLE, eligible_contacts, reason_per_contact
from notifier.contacts import consent_ledger as consent
from notifier.delivery.eligibility import consent_facts, contact_facts
from notifier.domain.consent_rules import PurposeRule, SendHistory, decide
from notifier.infra.context import profile, suppression_salt
from notifier.infra.extensions import db
from notifier.infra.hashing import address_hash
from notifier.models import ConsentSource, Contact, Suppression, utcnow
from tests.integration.helpers import make_contact, web_grant

WITHDRAWAL = consent.Evidence(ConsentSource.ONE_CLICK)


def _web(purpose_key: str) -> consent.Evidence:
    version = profile().purpose(purpose_key).notice_version
    return consent.Evidence(ConsentSource.WEB_FORM, notice_version=version, ip="203.0.113.7")


FLAVOURS = ("plain", "erased", "restricted", "ended", "ends_later", "suppressed_all",
            "suppressed_ads", "suppressed_promotions", "suppressed_renewal")  # fmt: skip
PROMOTION_STATES = ("none", "pending", "granted", "withdrawn")
RENEWAL_STATES = ("none", "withdrawn")

RULES = [
    PurposeRule("promotions", advertising=True, needs_consent=True),
    PurposeRule("renewal", advertising=False, needs_consent=False),
    # A service purpose on consent, which no shipped profile has: the SQL once forgot that an
    # ended contract stops it too.
    PurposeRule("promotions", advertising=False, needs_consent=True),
    PurposeRule("renewal", advertising=True, needs_consent=False),
]


def _contact(index: int, flavour: str, promotions: str, renewal: str) -> int:
    today = utcnow().date()
    ends = {"ended": today - timedelta(days=1), "ends_later": today + timedelta(days=30)}
    contact_id = make_contact(
        f"c{index}@example.com",
        contract_ends_on=ends[flavour].isoformat() if flavour in ends else None,
    )
    if promotions == "pending":
        consent.request_confirmation(contact_id, "promotions", _web("promotions"))
    elif promotions in ("granted", "withdrawn"):
        web_grant(contact_id, "promotions")
    if promotions == "withdrawn":
        consent.withdraw(contact_id, ["promotions"], WITHDRAWAL)
    if renewal == "withdrawn":
        consent.withdraw(contact_id, ["renewal"], WITHDRAWAL)
    contact = db.session.get(Contact, contact_id)
    assert contact is not None
    if flavour.startswith("suppressed_"):
        scope = {"ads": "advertising"}.get(flavour[11:], flavour[11:])
        db.session.add(Suppression(address_hash=contact.address_hash, scope=scope, reason="manual"))
    if flavour == "erased":
        contact.erased_at, contact.email = utcnow(), None
    if flavour == "restricted":
        contact.restricted_at = utcnow()
    db.session.commit()
    return contact_id


def test_decision_sql_and_breakdown_agree(app: Flask) -> None:
    combos = itertools.product(FLAVOURS, PROMOTION_STATES, RENEWAL_STATES)
    population = [_contact(i, *combo) for i, combo in enumerate(combos)]
    for rule in RULES:
        _agree(population, rule)


def _agree(population: list[int], rule: PurposeRule) -> None:
    now = utcnow()
    python = {}
    for contact_id in population:
        contact = db.session.get(Contact, contact_id)
        assert contact is not None
        decision = decide(
            rule, contact_facts(contact), consent_facts(contact_id, rule.key), SendHistory(), now
        )
        python[contact_id] = ELIGIBLE if decision.allowed else decision.reason.value
    planned = set(db.session.scalars(eligible_contacts(rule, now.date())))
    explained = {
        row.id: row.reason for row in db.session.execute(reason_per_contact(rule, now.date()))
    }

    assert planned == {c for c, reason in python.items() if reason == ELIGIBLE}, rule
    assert explained == python, rule
    # The population reaches every rule that applies, so a rule missing on one side shows.
    assert len(Counter(python.values())) >= 4


def test_an_ended_contract_stops_consent_based_service_mail_at_planning_too(app: Flask) -> None:
    consented = make_contact("ended@example.com", contract_ends_on=date(2020, 1, 1).isoformat())
    web_grant(consented, "promotions")
    rule = PurposeRule("promotions", advertising=False, needs_consent=True)
    assert consented not in set(db.session.scalars(eligible_contacts(rule, utcnow().date())))
    as_ads = PurposeRule("promotions", advertising=True, needs_consent=True)
    assert consented in set(db.session.scalars(eligible_contacts(as_ads, utcnow().date())))


def test_suppression_hashes_match_what_the_rules_read(app: Flask) -> None:
    contact_id = make_contact("s@example.com")
    contact = db.session.get(Contact, contact_id)
    assert contact is not None
    assert contact.address_hash == address_hash(suppression_salt(), "s@example.com")
    assert db.session.scalars(select(Suppression)).all() == []
