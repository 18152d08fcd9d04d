"""Named domain errors that entry points map to status codes, messages and exit codes."""

from __future__ import annotations


class DomainError(Exception):
    """Base for a 'no' a caller can show to a person."""


class ValidationFailed(DomainError):
    """Input that breaks a rule; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in errors.items()))
        self.errors = errors


class MissingEvidence(DomainError):
    """A consent grant without the proof Decree 13/2023 asks for is refused."""


class UnknownPurpose(DomainError):
    pass


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class RecordedRefusal(DomainError):
    """A 'no' whose work so far must stand: the unit of work commits before passing it on.

    A wrong second-factor code counts toward the lockout and is audited; rolling that back with
    the error would give an attacker unlimited guesses."""
