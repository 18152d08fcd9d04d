"""The eligibility rule table (domain.consent_rules.REFUSAL_RULES) compiled to SQL.

Planning selects the contacts no rule refuses; the audience breakdown names, per contact, the
first rule that does. Both come from here, in the table's order, so they agree with the claim-time
decision by construction
(tests/integration/campaigns/test_eligibility_equivalence.py runs all three).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, func, literal, select

from notifier.domain.consent_rules import PurposeRule, Reason, rules_for, suppression_scopes
from notifier.models import ConsentState, Contact, Suppression

ELIGIBLE = "eligible"
_STATUS = func.coalesce(ConsentState.status, "none")  # no row: silence, which is not consent


def _suppressed(purpose: PurposeRule, _: date) -> ColumnElement[bool]:
    return exists().where(
        Suppression.address_hash == Contact.address_hash,
        Suppression.scope.in_(suppression_scopes(purpose)),
    )


# Each rule's "refuses" as a NULL-safe SQL condition on Contact and its ConsentState row.
_CLAUSES: dict[Reason, Callable[[PurposeRule, date], ColumnElement[bool]]] = {
    Reason.ERASED: lambda p, d: Contact.email.is_(None) | Contact.erased_at.is_not(None),
    Reason.RESTRICTED: lambda p, d: Contact.restricted_at.is_not(None),
    Reason.SUPPRESSED: _suppressed,
    Reason.CONTRACT_ENDED: lambda p, d: func.coalesce(Contact.contract_ends_on < d, false()),
    Reason.WITHDRAWN: lambda p, d: _STATUS == "withdrawn",
    Reason.PENDING_CONFIRMATION: lambda p, d: _STATUS == "pending",
    Reason.NO_CONSENT: lambda p, d: _STATUS != "granted",
}


def refusals(purpose: PurposeRule, today: date) -> list[tuple[Reason, ColumnElement[bool]]]:
    return [(rule.reason, _CLAUSES[rule.reason](purpose, today)) for rule in rules_for(purpose)]


def _consent_row(purpose: PurposeRule) -> ColumnElement[bool]:
    return and_(ConsentState.contact_id == Contact.id, ConsentState.purpose_key == purpose.key)


def eligible_contacts(purpose: PurposeRule, today: date) -> Any:
    """SELECT Contact.id of everyone no rule refuses."""
    query = select(Contact.id)
    if purpose.needs_consent:
        # Only a granted row passes NO_CONSENT, so an inner join on it selects the same set
        # and lets the planner start from the consent index (1M contacts: see bench/plan.py).
        query = query.join(
            ConsentState, and_(_consent_row(purpose), ConsentState.status == "granted")
        )
    else:
        query = query.outerjoin(ConsentState, _consent_row(purpose))
    return query.where(*[~clause for _, clause in refusals(purpose, today)])


def reason_per_contact(purpose: PurposeRule, today: date) -> Any:
    """SELECT Contact.id, the first refusing rule's reason (or 'eligible') AS reason."""
    reason = case(
        *[(clause, literal(reason.value)) for reason, clause in refusals(purpose, today)],
        else_=literal(ELIGIBLE),
    ).label("reason")
    return select(Contact.id, reason).outerjoin(ConsentState, _consent_row(purpose))
