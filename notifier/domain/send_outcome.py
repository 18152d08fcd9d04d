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
        return self.base * 2 ** max(attempts - 1, 0) * spread


@dataclass(frozen=True)
class Verdict:
    fate: Fate
    reason: Reason | None
    attempts: int
    next_attempt_at: datetime | None = None


def judge(
    status: SendStatus, attempts: int, policy: RetryPolicy, now: datetime, *, resend_unknown: bool
) -> Verdict:
    """The fate of a message after one attempt. `attempts` counts the tries before this one.

    An unknown outcome (the connection died after the content left) is sent again only where
    a duplicate is better than a loss (`resend_unknown`: service mail); advertising never is.
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
    return Verdict(Fate.RETRY, reason, tried, now + policy.wait(tried))


def render_failed(attempts: int) -> Verdict:
    """The recipient's data does not fit the template: nothing was sent, and the relay is not
    to blame, so the reason says so (never an SMTP one)."""
    return Verdict(Fate.FAILED, Reason.RENDER_FAILED, attempts)
