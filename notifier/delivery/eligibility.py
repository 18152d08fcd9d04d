"""Gather the facts the pure consent core needs from the database, then ask it."""

from __future__ import annotations

from datetime import datetime

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
    scopes: frozenset[str] = frozenset()
    if contact.address_hash:
        scopes = frozenset(
            db.session.scalars(
                db.select(Suppression.scope).where(Suppression.address_hash == contact.address_hash)
            )
        )
    return ContactFacts(
        erased=contact.erased_at is not None,
        restricted=contact.restricted_at is not None,
        contract_ends_on=contact.contract_ends_on,
        suppressed_scopes=scopes,
    )


def consent_facts(contact_id: int, purpose_key: str) -> ConsentFacts:
    state = db.session.get(ConsentState, (contact_id, purpose_key))
    if state is None:
        return ConsentFacts()
    return ConsentFacts(ConsentStatus(state.status), state.event_id, state.agreed_daily_cap)


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
