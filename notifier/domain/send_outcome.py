"""What a relay's answer means for a message: sent, tried again later, failed, or unknown.

One rule for campaign mail, notices and system mail, so a 4xx costs the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class SendStatus(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"  # 4xx or dropped before the message was transferred: retry later
    FAILED = "failed"  # 5xx: permanent for this recipient
    UNKNOWN = "unknown"  # connection lost after the content was sent: may have been accepted


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    code: int | None
    message: str


class Fate(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # wait, then send again
    FAILED = "failed"
    UNKNOWN = "unknown"  # may have arrived: never sent again (advertising)


class Reason(StrEnum):
    SMTP_TEMPORARY = "smtp_temporary"
    SMTP_PERMANENT = "smtp_permanent"
    RETRIES_EXHAUSTED = "retries_exhausted"
    CONNECTION_LOST = "connection_lost"
    RESEND_AFTER_UNKNOWN = "resend_after_unknown"
    RENDER_FAILED = "render_failed"


def _middle() -> float:
    return 0.5


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: the first retry after about `base`, each further one
    about twice as late, each spread by +-`jitter` of itself so that the messages a relay
    refused together (a 421 for a whole connection) do not all come back at the same instant.

    `draw` gives a number in [0, 1): random.random in the send path; the middle by default, so
    the rule stays a pure function of its inputs."""

    limit: int
    base: timedelta
    jitter: float = 0.0
    draw: Callable[[], float] = field(default=_middle, compare=False)

    def wait(self, attempts: int) -> timedelta:
        spread = 1 + self.jitter * (2 * self.draw() - 1)
        # The exponent is bounded before the product: a relay down for thousands of messages
        # makes a backoff step in the thousands, and 2**1000 seconds overflows a timedelta.
        doubling = 2 ** min(max(attempts - 1, 0), _MAX_DOUBLINGS)
        return min(self.base * doubling, RETRY_CAP) * spread


RETRY_CAP = timedelta(hours=1)  # a relay or domain that keeps failing is tried at least hourly
_MAX_DOUBLINGS = 32  # past the cap for any base of a millisecond or more
QUICK_RETRIES = 3


class RelayBackoff:
    """Transient failures in a row per recipient domain, at one relay.

    A relay's 421 or a domain's 451 is about the relay or the domain, not about one message: so
    the wait before a retry grows with the failures in a row of that (relay, domain), one step
    for every STEP of them, and one accepted or refused message resets it. A relay that refuses
    now and then (short runs of failures, by chance) costs each refused message one short wait;
    a domain that is down backs off exponentially for all its messages. A message refused
    again and again while its domain is fine backs off on its own after a few quick retries
    (judge, QUICK_RETRIES)."""

    STEP = 3

    def __init__(self) -> None:
        self._streaks: dict[str, int] = {}

    def record(self, address: str, status: SendStatus) -> int:
        """The backoff step of the (relay, domain) after this answer: 0 unless a retry is due,
        then 1 for the first STEP failures in a row, 2 for the next STEP, and so on."""
        domain = address.rpartition("@")[2].lower()
        if status is SendStatus.SENT or status is SendStatus.FAILED:
            self._streaks.pop(domain, None)  # the path to that domain works
            return 0
        streak = self._streaks.get(domain, 0) + 1
        self._streaks[domain] = streak
        return 1 + (streak - 1) // self.STEP


@dataclass(frozen=True)
class Verdict:
    fate: Fate
    reason: Reason | None
    attempts: int
    next_attempt_at: datetime | None = None


def judge(
    status: SendStatus,
    attempts: int,
    policy: RetryPolicy,
    now: datetime,
    *,
    resend_unknown: bool,
    streak: int | None = None,
) -> Verdict:
    """The fate of a message after one attempt. `attempts` counts the tries before this one.

    An unknown outcome (the connection died after the content left) is sent again only where
    a duplicate is better than a loss (`resend_unknown`: service mail); advertising never is.
    The wait before a retry follows `streak`, the backoff step of the message's relay and domain
    (RelayBackoff), and after QUICK_RETRIES the message's own tries; only those when no
    streak is given.
    """
    if status is SendStatus.SENT:
        return Verdict(Fate.SENT, None, attempts)
    if status is SendStatus.FAILED:
        return Verdict(Fate.FAILED, Reason.SMTP_PERMANENT, attempts)
    if status is SendStatus.UNKNOWN and not resend_unknown:
        return Verdict(Fate.UNKNOWN, Reason.CONNECTION_LOST, attempts)
    tried = attempts + 1
    if tried >= policy.limit:
        return Verdict(Fate.FAILED, Reason.RETRIES_EXHAUSTED, tried)
    reason = Reason.SMTP_TEMPORARY if status is SendStatus.DEFERRED else Reason.RESEND_AFTER_UNKNOWN
    # A message's first retries wait as its relay and domain do (random refusals cost
    # seconds); past QUICK_RETRIES its own tries back off too (greylisting, a full mailbox:
    # a refusal about this one recipient needs minutes, not seconds).
    step = tried if streak is None else max(streak, tried - QUICK_RETRIES)
    return Verdict(Fate.RETRY, reason, tried, now + policy.wait(step))


def render_failed(attempts: int) -> Verdict:
    """The recipient's data does not fit the template: nothing was sent, and the relay is not
    to blame, so the reason says so (never an SMTP one)."""
    return Verdict(Fate.FAILED, Reason.RENDER_FAILED, attempts)
