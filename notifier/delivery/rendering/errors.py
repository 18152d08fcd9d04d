"""The named error a template problem raises, shaped for an admin page to show next to the line."""

from __future__ import annotations

from enum import StrEnum


class Part(StrEnum):
    SUBJECT = "subject"
    BODY = "body"
    TEXT = "text"


class TemplateError(ValueError):
    """A template that cannot compile or render: the part, the line (1-based or None) and why."""

    def __init__(self, part: Part, line: int | None, problem: str) -> None:
        where = f", line {line}" if line is not None else ""
        super().__init__(f"{part}{where}: {problem}")
        self.part, self.line, self.problem = part, line, problem
