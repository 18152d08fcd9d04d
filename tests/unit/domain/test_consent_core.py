"""Truth tables for the pure consent rules: no fixtures, no database, `now` passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from notifier.domain.consent_rules import (
    ConsentFacts,
    ConsentStatus,
    ContactFacts,
    PurposeRule,
    Reason,
    SendHistory,
    decide,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ADS = PurposeRule("promotions", advertising=True, needs_consent=True)
WEEKLY_ADS = PurposeRule("events", advertising=True, needs_consent=True, max_per_week=1)
RENEWAL = PurposeRule("renewal", advertising=False, needs_consent=False)
CONSENTED_SERVICE = PurposeRule("newsletter", advertising=False, needs_consent=True)
GRANTED = ConsentFacts(ConsentStatus.GRANTED, event_id=7)
NONE = ConsentFacts()
PENDING = ConsentFacts(ConsentStatus.PENDING, event_id=5)
WITHDRAWN = ConsentFacts(ConsentStatus.WITHDRAWN, event_id=9)
NOBODY = ContactFacts()
NO_HISTORY = SendHistory()


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


@pytest.mark.parametrize(
    ("purpose", "contact", "consent", "expected"),
    [
        (ADS, NOBODY, GRANTED, Reason.ALLOWED),
        (ADS, NOBODY, NONE, Reason.NO_CONSENT),
        (ADS, NOBODY, PENDING, Reason.PENDING_CONFIRMATION),
        (ADS, NOBODY, WITHDRAWN, Reason.WITHDRAWN),
        (ADS, ContactFacts(erased=True), GRANTED, Reason.ERASED),
        (ADS, ContactFacts(restricted=True), GRANTED, Reason.RESTRICTED),
        (ADS, ContactFacts(suppressed_scopes=frozenset({"all"})), GRANTED, Reason.SUPPRESSED),
        (
            ADS,
            ContactFacts(suppressed_scopes=frozenset({"advertising"})),
            GRANTED,
            Reason.SUPPRESSED,
        ),
        (
            ADS,
            ContactFacts(suppressed_scopes=frozenset({"promotions"})),
            GRANTED,
            Reason.SUPPRESSED,
        ),
        (ADS, ContactFacts(suppressed_scopes=frozenset({"events"})), GRANTED, Reason.ALLOWED),
        (ADS, ContactFacts(contract_ends_on=date(2026, 1, 1)), GRANTED, Reason.ALLOWED),
        (RENEWAL, NOBODY, NONE, Reason.ALLOWED),
        (RENEWAL, NOBODY, WITHDRAWN, Reason.WITHDRAWN),
        (RENEWAL, ContactFacts(suppressed_scopes=frozenset({"advertising"})), NONE, Reason.ALLOWED),
        (RENEWAL, ContactFacts(suppressed_scopes=frozenset({"all"})), NONE, Reason.SUPPRESSED),
        (RENEWAL, ContactFacts(contract_ends_on=date(2026, 11, 22)), NONE, Reason.CONTRACT_ENDED),
        (RENEWAL, ContactFacts(contract_ends_on=date(2026, 11, 23)), NONE, Reason.ALLOWED),
        (RENEWAL, ContactFacts(erased=True), NONE, Reason.ERASED),
        (CONSENTED_SERVICE, NOBODY, NONE, Reason.NO_CONSENT),
        (CONSENTED_SERVICE, NOBODY, GRANTED, Reason.ALLOWED),
    ],
)
def test_who_may_receive_what(
    purpose: PurposeRule, contact: ContactFacts, consent: ConsentFacts, expected: Reason
) -> None:
    decision = decide(purpose, contact, consent, NO_HISTORY, NOW)
    assert decision.reason is expected
    assert decision.allowed is (expected is Reason.ALLOWED)
    assert bool(decision) is decision.allowed


def test_an_allowed_decision_names_the_consent_event() -> None:
    assert decide(ADS, NOBODY, GRANTED, NO_HISTORY, NOW).consent_event_id == 7


@pytest.mark.parametrize(
    ("sent", "expected", "retry_at"),
    [
        ([], Reason.ALLOWED, None),
        ([ago(hours=1), ago(hours=2)], Reason.ALLOWED, None),
        ([ago(hours=1), ago(hours=2), ago(hours=23, minutes=59)], Reason.CAP_REACHED,
         ago(hours=23, minutes=59) + timedelta(hours=24)),
        ([ago(hours=1), ago(hours=2), ago(hours=24, minutes=1)], Reason.ALLOWED, None),
        ([ago(hours=1), ago(hours=2), ago(hours=3), ago(hours=4)], Reason.CAP_REACHED,
         ago(hours=3) + timedelta(hours=24)),
        # Reserved by another worker whose clock or lock wait put it after this one's `now`.
        ([NOW + timedelta(seconds=2)] * 3, Reason.CAP_REACHED,
         NOW + timedelta(seconds=2) + timedelta(hours=24)),
    ],
)  # fmt: skip
def test_three_advertising_emails_per_rolling_24_hours(
    sent: list[datetime], expected: Reason, retry_at: datetime | None
) -> None:
    decision = decide(ADS, NOBODY, GRANTED, SendHistory(advertising_sent_at=sent), NOW)
    assert decision.reason is expected
    assert decision.retry_at == retry_at


def test_the_cap_boundary_at_24_hours() -> None:
    first = NOW
    history = SendHistory(advertising_sent_at=[first, first, first])
    almost = decide(ADS, NOBODY, GRANTED, history, first + timedelta(hours=23, minutes=59))
    after = decide(ADS, NOBODY, GRANTED, history, first + timedelta(hours=24, minutes=1))
    assert almost.reason is Reason.CAP_REACHED
    assert after.allowed


def test_a_higher_cap_only_with_the_persons_agreement() -> None:
    history = SendHistory(advertising_sent_at=[ago(hours=h) for h in (1, 2, 3, 4)])
    agreed = ConsentFacts(ConsentStatus.GRANTED, event_id=7, agreed_daily_cap=5)
    assert decide(ADS, NOBODY, agreed, history, NOW).allowed
    assert not decide(ADS, NOBODY, GRANTED, history, NOW).allowed
    lower = ConsentFacts(ConsentStatus.GRANTED, event_id=7, agreed_daily_cap=1)
    assert decide(ADS, NOBODY, lower, SendHistory(advertising_sent_at=[ago(hours=1)]), NOW)


def test_service_mail_is_never_capped() -> None:
    history = SendHistory(advertising_sent_at=[ago(minutes=m) for m in range(10)])
    assert decide(RENEWAL, NOBODY, NONE, history, NOW).allowed


def test_the_disclosed_weekly_frequency_is_never_exceeded() -> None:
    history = SendHistory(purpose_sent_at=[ago(days=6)])
    decision = decide(WEEKLY_ADS, NOBODY, GRANTED, history, NOW)
    assert decision.reason is Reason.FREQUENCY_EXCEEDED
    assert decision.retry_at == ago(days=6) + timedelta(days=7)
    assert decide(WEEKLY_ADS, NOBODY, GRANTED, SendHistory(purpose_sent_at=[ago(days=8)]), NOW)


def test_refusals_come_before_waits() -> None:
    history = SendHistory(advertising_sent_at=[ago(hours=1)] * 3)
    assert decide(ADS, NOBODY, WITHDRAWN, history, NOW).reason is Reason.WITHDRAWN
