"""The named error a template problem raises, shaped for an admin page to show next to the line."""

from __future__ import annotations

from enum import StrEnum


class Part(StrEnum):
    SUBJECT = "subject"
    BODY = "body"
    TEXT = "text"


class TemplateError(ValueError):
    """A template that cannot compile or render: the part, the line (1-based or None) and why;
    `locale` names the variant when it is not the Vietnamese one (the message then starts "en ")."""

    def __init__(self, part: Part, line: int | None, problem: str, locale: str = "vi") -> None:
        where = f", line {line}" if line is not None else ""
        variant = "" if locale == "vi" else f"{locale} "
        super().__init__(f"{variant}{part}{where}: {problem}")
        self.part, self.line, self.problem, self.locale = part, line, problem, locale

    def in_locale(self, locale: str) -> TemplateError:
        return TemplateError(self.part, self.line, self.problem, locale)
