"""What a bounce, complaint or auto-reply says, independent of how it arrived."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    AUTO_REPLY = "auto_reply"
    DELAYED = "delayed"  # a warning: the sending server keeps trying
    UNKNOWN = "unknown"  # nothing we recognise; logged, nothing done


ACTIONABLE = frozenset({Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE, Kind.COMPLAINT})


@dataclass(frozen=True)
class Feedback:
    """One recipient's outcome; `recipient` is only what the report claims, never trusted alone."""

    kind: Kind
    recipient: str | None = None
    status: str | None = None  # enhanced status code, e.g. "5.1.1"
    category: str = ""  # why: bad_mailbox, mailbox_full, policy, abuse, ...
    diagnostic: str = ""  # addresses redacted, short
    reporter: str = ""  # the reporting MTA or feedback loop


@dataclass(frozen=True)
class Report:
    """Everything one inbound message or provider event tells us."""

    kind: Kind
    feedback: tuple[Feedback, ...] = ()
    original_message_id: str | None = None  # of the message we sent, without <>
    original_return_path: str | None = None
    problem: str | None = None  # set when the input is malformed: it is rejected

    @property
    def malformed(self) -> bool:
        return self.problem is not None

    @property
    def actionable(self) -> tuple[Feedback, ...]:
        return tuple(item for item in self.feedback if item.kind in ACTIONABLE)


def malformed(problem: str) -> Report:
    return Report(Kind.UNKNOWN, problem=problem)
