"""What a relay's answer means for a message: sent, tried again later, failed, or unknown.

One rule for campaign mail, notices and system mail, so a 4xx costs the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: the first retry after `base`, each further one twice as late."""

    limit: int
    base: timedelta

    def wait(self, attempts: int) -> timedelta:
        return self.base * 2 ** max(attempts - 1, 0)


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
