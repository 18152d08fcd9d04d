"""Jinja tags hidden from MJML behind placeholders, and tag-balance checks that name the line."""

from __future__ import annotations

import re
from dataclasses import dataclass

from notifier.delivery.rendering.errors import Part, TemplateError

_CONSTRUCT = re.compile(
    r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S
)
_RAW = re.compile(r"\{%-?\s*raw\b")
_PLACEHOLDER = re.compile(r"@@jinja(\d+)@@")
_ATTRS = r"""(?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?)*"""
_MARKUP = re.compile(
    r"(?P<comment><!--.*?-->)|<![A-Za-z][^>]*>"
    rf"|<(?P<raw>style|script|mj-style){_ATTRS}\s*>.*?</(?P=raw)\s*>"
    rf"|<(?P<close>/)?(?P<name>[A-Za-z][\w:.-]*){_ATTRS}\s*(?P<self>/)?>"
    r"|(?P<jinja>@@jinja\d+@@)|(?P<stray><)",
    re.S | re.I,
)
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
     "wbr"}
)  # fmt: skip
# Jinja tags whose body is a block: the HTML inside must balance so no branch can leave a tag open.
_OPENERS = frozenset(
    {"if", "for", "with", "macro", "call", "filter", "block", "trans", "autoescape"}
)


@dataclass(frozen=True)
class Construct:
    text: str
    line: int
    start: int  # offset in the original source
    placed: int  # offset of its placeholder in the protected source

    @property
    def keyword(self) -> str:
        if not self.text.startswith("{%"):
            return ""
        words = self.text[2:].lstrip("-+ \t\r\n").split(None, 1)
        return words[0].rstrip("-+%}") if words else ""

    @property
    def opens_block(self) -> bool:
        if self.keyword == "set":
            return "=" not in self.text
        return self.keyword in _OPENERS


@dataclass(frozen=True)
class Protected:
    """A source whose Jinja tags are replaced by @@jinjaN@@ so MJML's XML parser never sees them."""

    original: str
    text: str
    constructs: tuple[Construct, ...]

    def restore(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.constructs[int(m[1])].text, text)

    def original_line(self, offset: int) -> int:
        shift = 0
        for index, construct in enumerate(self.constructs):
            if offset < construct.placed:
                break
            end = construct.placed + len(placeholder(index))
            if offset < end:
                return construct.line
            shift = construct.start + len(construct.text) - end
        return self.original.count("\n", 0, offset + shift) + 1


def placeholder(index: int) -> str:
    return f"@@jinja{index}@@"


def protect(source: str) -> Protected:
    if "@@jinja" in source:
        line = source.count("\n", 0, source.index("@@jinja")) + 1
        raise TemplateError(Part.BODY, line, "'@@jinja' is reserved; please reword")
    constructs: list[Construct] = []
    pieces: list[str] = []
    last = placed = 0
    for match in _CONSTRUCT.finditer(source):
        if _RAW.match(match[0]):
            # Raw text would reach the HTML unchecked by MJML, unbalanced tags and all.
            line = source.count("\n", 0, match.start()) + 1
            raise TemplateError(Part.BODY, line, "{% raw %} is not allowed in the body")
        pieces.append(source[last : match.start()])
        placed += match.start() - last
        line = source.count("\n", 0, match.start()) + 1
        constructs.append(Construct(match[0], line, match.start(), placed))
        pieces.append(placeholder(len(constructs) - 1))
        placed += len(pieces[-1])
        last = match.end()
    pieces.append(source[last:])
    return Protected(source, "".join(pieces), tuple(constructs))


def locate_markup_problem(protected: Protected) -> tuple[int, str] | None:
    """The first unbalanced or malformed tag in an MJML source, for parser errors without a line."""
    text = protected.text
    stack: list[tuple[str, int]] = []
    for match in _MARKUP.finditer(text):
        line = protected.original_line(match.start())
        if match["stray"]:
            if text.startswith("<!--", match.start()):
                return line, "this comment is never closed with -->"
            return (
                line,
                "'<' does not start a well-formed tag (quote attribute values, or write &lt;)",
            )
        name = (match["name"] or "").lower()
        if not name or match["self"] or name in _VOID:
            continue
        if not match["close"]:
            stack.append((name, match.start()))
        elif stack and stack[-1][0] == name:
            stack.pop()
        elif stack:
            opened, at = stack[-1]
            where = protected.original_line(at)
            return line, f"</{name}> found while <{opened}> from line {where} is still open"
        else:
            return line, f"</{name}> closes nothing"
    if stack:
        name, at = stack[-1]
        return protected.original_line(at), f"<{name}> is never closed"
    return None


def check_blocks_balanced(html: str, protected: Protected) -> None:
    """Every Jinja block body keeps the compiled HTML balanced, so no branch can hide the footer."""
    stack: list[tuple[str, int]] = []  # (tag, offset): the offset tells two same-named tags apart
    frames: list[tuple[Construct, tuple[tuple[str, int], ...]]] = []

    def visit(construct: Construct) -> None:
        keyword = construct.keyword
        if construct.opens_block:
            frames.append((construct, tuple(stack)))
        elif frames and (keyword in ("elif", "else") or keyword.startswith("end")):
            opener, before = frames[-1]
            if tuple(stack) != before:
                raise TemplateError(
                    Part.BODY,
                    opener.line,
                    f"tags opened or closed inside this {{% {opener.keyword} %}} block must be "
                    f"closed inside it (before {{% {keyword} %}} on line {construct.line})",
                )
            if keyword.startswith("end"):
                frames.pop()

    for match in _MARKUP.finditer(html):
        if match["jinja"]:
            visit(protected.constructs[int(match["jinja"][7:-2])])
            continue
        inside = list(_PLACEHOLDER.finditer(match[0]))
        if inside:
            # A tag, comment or <style> is one unit: a block that starts in it must end in it, or
            # an untaken branch could leave, say, a comment open over the footer.
            stack.append(("#unit", match.start()))
            for inner in inside:
                visit(protected.constructs[int(inner[1])])
            stack.pop()
        name = (match["name"] or "").lower()
        if not name or match["self"] or name in _VOID:
            continue
        if not match["close"]:
            stack.append((name, match.start()))
        elif any(open_name == name for open_name, _ in stack):
            while stack.pop()[0] != name:
                pass


def check_survived(html: str, protected: Protected) -> None:
    """MJML must keep every Jinja tag, and each {% %} tag exactly once and in order."""
    seen: dict[int, int] = {}
    order: list[int] = []
    for match in _PLACEHOLDER.finditer(html):
        index = int(match[1])
        seen[index] = seen.get(index, 0) + 1
        if protected.constructs[index].text.startswith("{%"):
            order.append(index)
    for index, construct in enumerate(protected.constructs):
        count = seen.get(index, 0)
        if count == 0 and not construct.text.startswith("{#"):
            problem = "MJML dropped this template tag; put it in <mj-text>, <mj-raw> or a column"
            raise TemplateError(Part.BODY, construct.line, problem)
        if count > 1 and construct.text.startswith("{%"):
            problem = "MJML repeats this tag (as it does in <mj-title>); use {{ }} only there"
            raise TemplateError(Part.BODY, construct.line, problem)
    if order != sorted(order):
        first = next(i for i, j in zip(order, sorted(order), strict=True) if i != j)
        problem = "MJML moves this tag away from its block (e.g. into <mj-head>); move the block"
        raise TemplateError(Part.BODY, protected.constructs[first].line, problem)
