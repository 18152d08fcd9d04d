"""Where a person stands per purpose, as the preference page and the admin pages show it.

Issue #14: the admin showed "Chưa đồng ý" (no consent) for a contract purpose the customer's own
page showed as "Đang nhận" (receiving). Both now read `standing`, which is the claim-time rule
without its waits, so what the pages say is what the sending does.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from notifier.domain.consent_rules import (
    ConsentFacts,
    ConsentStatus,
    ContactFacts,
    PurposeRule,
    Reason,
    SendHistory,
    chosen,
    decide,
    standing,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
ADS = PurposeRule("promotions", advertising=True, needs_consent=True)
RENEWAL = PurposeRule("renewal", advertising=False, needs_consent=False)  # contract basis
COMPLAINTS = PurposeRule("complaints", advertising=False, needs_consent=False)  # legal obligation
CONSENTED_SERVICE = PurposeRule("newsletter", advertising=False, needs_consent=True)
ENDED = ContactFacts(contract_ends_on=date(2026, 11, 22))
ENDS_TODAY = ContactFacts(contract_ends_on=TODAY)


def consent(status: ConsentStatus) -> ConsentFacts:
    return ConsentFacts(status, event_id=None if status is ConsentStatus.NONE else 3)


@pytest.mark.parametrize(
    ("purpose", "contact", "status", "expected"),
    [
        # The case: a contract purpose nobody refused is received, with no consent.
        (RENEWAL, ContactFacts(), ConsentStatus.NONE, Reason.ALLOWED),
        (RENEWAL, ContactFacts(), ConsentStatus.GRANTED, Reason.ALLOWED),
        (RENEWAL, ContactFacts(), ConsentStatus.WITHDRAWN, Reason.WITHDRAWN),
        (RENEWAL, ENDED, ConsentStatus.NONE, Reason.CONTRACT_ENDED),
        (RENEWAL, ENDS_TODAY, ConsentStatus.NONE, Reason.ALLOWED),
        (COMPLAINTS, ContactFacts(), ConsentStatus.NONE, Reason.ALLOWED),
        (ADS, ContactFacts(), ConsentStatus.NONE, Reason.NO_CONSENT),
        (ADS, ContactFacts(), ConsentStatus.PENDING, Reason.PENDING_CONFIRMATION),
        (ADS, ContactFacts(), ConsentStatus.GRANTED, Reason.ALLOWED),
        (ADS, ENDED, ConsentStatus.GRANTED, Reason.ALLOWED),  # advertising is not contract mail
        (CONSENTED_SERVICE, ContactFacts(), ConsentStatus.NONE, Reason.NO_CONSENT),
        (ADS, ContactFacts(restricted=True), ConsentStatus.GRANTED, Reason.RESTRICTED),
        (
            RENEWAL,
            ContactFacts(suppressed_scopes=frozenset({"all"})),
            ConsentStatus.NONE,
            Reason.SUPPRESSED,
        ),
    ],
)
def test_what_the_pages_show(
    purpose: PurposeRule, contact: ContactFacts, status: ConsentStatus, expected: Reason
) -> None:
    assert standing(purpose, contact, consent(status), TODAY) is expected


CONTACTS = [
    ContactFacts(),
    ENDED,
    ContactFacts(restricted=True),
    ContactFacts(erased=True),
    ContactFacts(suppressed_scopes=frozenset({"advertising"})),
    ContactFacts(suppressed_scopes=frozenset({"renewal"})),
]


@pytest.mark.parametrize(
    ("purpose", "contact", "status"),
    itertools.product([ADS, RENEWAL, COMPLAINTS, CONSENTED_SERVICE], CONTACTS, list(ConsentStatus)),
)
def test_the_pages_say_what_the_claim_decides(
    purpose: PurposeRule, contact: ContactFacts, status: ConsentStatus
) -> None:
    """With nothing sent lately (no waits), the claim-time decision and the shown state agree."""
    decided = decide(purpose, contact, consent(status), SendHistory(), NOW)
    assert standing(purpose, contact, consent(status), TODAY) is decided.reason


@pytest.mark.parametrize(
    ("purpose", "status", "on"),
    [
        (RENEWAL, ConsentStatus.NONE, True),
        (RENEWAL, ConsentStatus.PENDING, True),
        (RENEWAL, ConsentStatus.WITHDRAWN, False),
        (COMPLAINTS, ConsentStatus.NONE, True),
        (ADS, ConsentStatus.NONE, False),
        (ADS, ConsentStatus.PENDING, False),
        (ADS, ConsentStatus.GRANTED, True),
        (ADS, ConsentStatus.WITHDRAWN, False),
        (CONSENTED_SERVICE, ConsentStatus.NONE, False),
    ],
)
def test_the_switch_shows_the_persons_own_choice(
    purpose: PurposeRule, status: ConsentStatus, on: bool
) -> None:
    assert chosen(purpose, consent(status)) is on


def test_an_ended_contract_stops_the_mail_but_not_the_choice() -> None:
    """The switch stays on (the person refused nothing); the state says why no mail comes."""
    assert chosen(RENEWAL, consent(ConsentStatus.NONE))
    assert standing(RENEWAL, ENDED, consent(ConsentStatus.NONE), TODAY) is Reason.CONTRACT_ENDED
