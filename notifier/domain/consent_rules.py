"""Pure consent rules: may this contact get a message for this purpose now, and if not, why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache

# Decree 91/2020 Art 13(5): at most three advertising emails per address in any 24 hours.
LEGAL_DAILY_AD_CAP = 3
CAP_WINDOW = timedelta(hours=24)
WEEK = timedelta(days=7)


class ConsentStatus(StrEnum):
    NONE = "none"  # silence is not consent
    PENDING = "pending"  # double opt-in mail sent, not yet confirmed
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class Reason(StrEnum):
    ALLOWED = "allowed"
    NO_CONSENT = "no_consent"
    PENDING_CONFIRMATION = "pending_confirmation"
    WITHDRAWN = "withdrawn"
    SUPPRESSED = "suppressed"
    RESTRICTED = "restricted"
    ERASED = "erased"
    CONTRACT_ENDED = "contract_ended"
    CAP_REACHED = "cap_reached"
    FREQUENCY_EXCEEDED = "frequency_exceeded"


@dataclass(frozen=True)
class PurposeRule:
    key: str
    advertising: bool
    needs_consent: bool  # False for service mail sent under a contract: objection still stops it
    max_per_week: int | None = None


@dataclass(frozen=True)
class ContactFacts:
    erased: bool = False
    restricted: bool = False
    contract_ends_on: date | None = None
    # scopes: "all", "advertising" or a purpose key
    suppressed_scopes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ConsentFacts:
    status: ConsentStatus = ConsentStatus.NONE
    event_id: int | None = None
    agreed_daily_cap: int | None = None  # a higher cap only when the person agreed to it


@dataclass(frozen=True)
class SendHistory:
    """When this address was last sent advertising (any campaign) and this purpose's mail."""

    advertising_sent_at: Sequence[datetime] = ()
    purpose_sent_at: Sequence[datetime] = ()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason
    consent_event_id: int | None = None
    retry_at: datetime | None = field(default=None)  # when a capped message may go

    def __bool__(self) -> bool:
        return self.allowed


def decide(
    purpose: PurposeRule,
    contact: ContactFacts,
    consent: ConsentFacts,
    history: SendHistory,
    now: datetime,
) -> Decision:
    """The single gate every message passes; order matters: permanent reasons before waits."""
    refusal = _refusal(purpose, contact, consent, now)
    if refusal is not None:
        return Decision(False, refusal)
    wait = _wait(purpose, consent, history, now)
    if wait is not None:
        return wait
    return Decision(True, Reason.ALLOWED, consent_event_id=consent.event_id)


@dataclass(frozen=True)
class RefusalRule:
    """One reason a contact may not get a purpose's mail at all (as opposed to not yet).

    The ordered table below is the one definition of eligibility: `decide` asks it per message
    at claim time, and the audience SQL and its breakdown are compiled from the same table
    (notifier/campaigns/audience_sql.py), so planning and sending can never disagree.
    """

    reason: Reason
    applies: Callable[[PurposeRule], bool]
    refuses: Callable[[PurposeRule, ContactFacts, ConsentFacts, date], bool]


def _always(_: PurposeRule) -> bool:
    return True


def _service(purpose: PurposeRule) -> bool:
    return not purpose.advertising


def _needs_consent(purpose: PurposeRule) -> bool:
    return purpose.needs_consent


def _contract_ended(contact: ContactFacts, today: date) -> bool:
    # Service mail exists for customers; once the contract ends it has no basis, whatever the
    # legal basis of the purpose.
    return contact.contract_ends_on is not None and contact.contract_ends_on < today


# Permanent reasons first: the first rule that refuses names the reason.
REFUSAL_RULES: tuple[RefusalRule, ...] = (
    RefusalRule(Reason.ERASED, _always, lambda p, c, s, d: c.erased),
    RefusalRule(Reason.RESTRICTED, _always, lambda p, c, s, d: c.restricted),
    RefusalRule(Reason.SUPPRESSED, _always, lambda p, c, s, d: _suppressed(p, c.suppressed_scopes)),
    RefusalRule(Reason.CONTRACT_ENDED, _service, lambda p, c, s, d: _contract_ended(c, d)),
    RefusalRule(Reason.WITHDRAWN, _always, lambda p, c, s, d: s.status is ConsentStatus.WITHDRAWN),
    RefusalRule(
        Reason.PENDING_CONFIRMATION,
        _needs_consent,
        lambda p, c, s, d: s.status is ConsentStatus.PENDING,
    ),
    RefusalRule(
        Reason.NO_CONSENT, _needs_consent, lambda p, c, s, d: s.status is not ConsentStatus.GRANTED
    ),
)


@cache  # once a purpose: the claim decides thousands of contacts against the same few rules
def rules_for(purpose: PurposeRule) -> tuple[RefusalRule, ...]:
    return tuple(rule for rule in REFUSAL_RULES if rule.applies(purpose))


def _refusal(
    purpose: PurposeRule, contact: ContactFacts, consent: ConsentFacts, now: datetime
) -> Reason | None:
    today = now.date()
    for rule in rules_for(purpose):
        if rule.refuses(purpose, contact, consent, today):
            return rule.reason
    return None


def _suppressed(purpose: PurposeRule, scopes: frozenset[str]) -> bool:
    return not scopes.isdisjoint(suppression_scopes(purpose))


def suppression_scopes(purpose: PurposeRule) -> list[str]:
    """The suppression scopes that stop this purpose's mail."""
    return ["all", purpose.key] + (["advertising"] if purpose.advertising else [])


def _wait(
    purpose: PurposeRule, consent: ConsentFacts, history: SendHistory, now: datetime
) -> Decision | None:
    if not purpose.advertising:
        return None
    cap = max(LEGAL_DAILY_AD_CAP, consent.agreed_daily_cap or 0)
    retry_at = _window_frees_at(history.advertising_sent_at, now, CAP_WINDOW, cap)
    if retry_at is not None:
        return Decision(False, Reason.CAP_REACHED, retry_at=retry_at)
    if purpose.max_per_week is not None:
        retry_at = _window_frees_at(history.purpose_sent_at, now, WEEK, purpose.max_per_week)
        if retry_at is not None:
            return Decision(False, Reason.FREQUENCY_EXCEEDED, retry_at=retry_at)
    return None


def _window_frees_at(
    sent_at: Sequence[datetime], now: datetime, window: timedelta, limit: int
) -> datetime | None:
    """None when one more send fits in the rolling window, else when the oldest one leaves it.

    Sends stamped after `now` count too: another worker may have reserved a slot while this one
    waited for its lock, and worker clocks differ a little.
    """
    if len(sent_at) < limit:  # the common case: no need to look at the times
        return None
    start = now - window
    recent = sorted(t for t in sent_at if t > start)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + window
