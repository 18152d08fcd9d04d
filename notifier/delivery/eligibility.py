"""Gather the facts the pure consent core needs from the database, then ask it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from notifier.domain.consent_rules import (
    CAP_WINDOW,
    WEEK,
    ConsentFacts,
    ConsentStatus,
    ContactFacts,
    Decision,
    PurposeRule,
    Reason,
    SendHistory,
    decide,
    standing,
)
from notifier.domain.profile import LegalBasis, Purpose
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import ConsentState, Contact, SendLog, Suppression


def rule_for(purpose: Purpose) -> PurposeRule:
    return PurposeRule(
        key=purpose.key,
        advertising=purpose.is_advertising,
        needs_consent=purpose.legal_basis is LegalBasis.CONSENT,
        max_per_week=purpose.max_per_week,
    )


def contact_facts(contact: Contact) -> ContactFacts:
    return contact_facts_for([contact])[contact.id]


def contact_facts_for(contacts: Sequence[Contact]) -> dict[int, ContactFacts]:
    """The facts of many contacts with one suppression query (a page of search results)."""
    hashes = {c.address_hash for c in contacts if c.address_hash}
    scopes: dict[str, set[str]] = {}
    if hashes:
        rows = db.session.execute(
            db.select(Suppression.address_hash, Suppression.scope).where(
                Suppression.address_hash.in_(sorted(hashes))
            )
        )
        for digest, scope in rows:
            scopes.setdefault(digest, set()).add(scope)
    return {
        contact.id: ContactFacts(
            erased=contact.erased_at is not None or not contact.email,
            restricted=contact.restricted_at is not None,
            contract_ends_on=contact.contract_ends_on,
            suppressed_scopes=frozenset(scopes.get(contact.address_hash or "", ())),
        )
        for contact in contacts
    }


def consent_facts(contact_id: int, purpose_key: str) -> ConsentFacts:
    state = db.session.get(ConsentState, (contact_id, purpose_key))
    if state is None:
        return ConsentFacts()
    return _facts(state)


def _facts(state: ConsentState) -> ConsentFacts:
    return ConsentFacts(ConsentStatus(state.status), state.event_id, state.agreed_daily_cap)


def standings_for(contacts: Sequence[Contact], today: date) -> dict[int, dict[str, Reason]]:
    """Per contact and purpose of the profile: ALLOWED ("receiving") or why not.

    Pages show this, never the stored consent status alone: a contract purpose has no consent
    to record and still flows (notifier/domain/consent_rules.standing).
    """
    ids = [c.id for c in contacts]
    states: dict[tuple[int, str], ConsentFacts] = {}
    if ids:
        for state in db.session.scalars(
            db.select(ConsentState).where(ConsentState.contact_id.in_(ids))
        ):
            states[(state.contact_id, state.purpose_key)] = _facts(state)
    facts = contact_facts_for(contacts)
    rules = [rule_for(p) for p in profile().purposes]
    return {
        contact.id: {
            rule.key: standing(
                rule, facts[contact.id], states.get((contact.id, rule.key), ConsentFacts()), today
            )
            for rule in rules
        }
        for contact in contacts
    }


def send_history(contact_id: int, purpose_key: str, now: datetime) -> SendHistory:
    rows = db.session.execute(
        db.select(SendLog.sent_at, SendLog.purpose_key, SendLog.advertising).where(
            SendLog.contact_id == contact_id, SendLog.sent_at > now - max(WEEK, CAP_WINDOW)
        )
    ).all()
    return SendHistory(
        advertising_sent_at=[r.sent_at for r in rows if r.advertising],
        purpose_sent_at=[r.sent_at for r in rows if r.purpose_key == purpose_key],
    )


def decision_for(contact_id: int, purpose_key: str, now: datetime) -> Decision:
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        return Decision(False, Reason.ERASED)
    purpose = profile().purpose(purpose_key)
    return decide(
        rule_for(purpose),
        contact_facts(contact),
        consent_facts(contact_id, purpose_key),
        send_history(contact_id, purpose_key, now),
        now,
    )


def decisions_for(
    contacts: Sequence[Contact], pairs: Sequence[tuple[int, str]], now: datetime
) -> dict[tuple[int, str], Decision]:
    """`decision_for` of many (contact, purpose) pairs with one query per kind of fact (a
    batch of notices): the same rule, asked once per pair. A pair whose contact is not among
    `contacts` is erased."""
    found = {contact.id: contact for contact in contacts}
    facts = contact_facts_for(contacts)
    states: dict[tuple[int, str], ConsentFacts] = {}
    if found:
        for state in db.session.scalars(
            db.select(ConsentState).where(ConsentState.contact_id.in_(sorted(found)))
        ):
            states[(state.contact_id, state.purpose_key)] = _facts(state)
    decisions: dict[tuple[int, str], Decision] = {}
    for contact_id, purpose_key in pairs:
        if contact_id not in found:
            decisions[(contact_id, purpose_key)] = Decision(False, Reason.ERASED)
            continue
        rule = rule_for(profile().purpose(purpose_key))
        # Only advertising waits on the send history (caps); service mail never reads it.
        history = send_history(contact_id, purpose_key, now) if rule.advertising else SendHistory()
        decisions[(contact_id, purpose_key)] = decide(
            rule,
            facts[contact_id],
            states.get((contact_id, purpose_key), ConsentFacts()),
            history,
            now,
        )
    return decisions
