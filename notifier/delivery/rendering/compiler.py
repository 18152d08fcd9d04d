"""Compile a staff template once per campaign (MJML once, three sandboxed Jinja templates)."""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass

import jinja2
from jinja2 import Environment, Template, nodes
from jinja2.exceptions import TemplateSyntaxError
from mjml import mjml2html

from notifier.delivery.rendering.budget import BudgetExceeded, cpu_budget
from notifier.delivery.rendering.environment import STAFF_HTML, STAFF_PLAIN, one_line
from notifier.delivery.rendering.errors import Part, TemplateError
from notifier.delivery.rendering.footer import (
    FooterData,
    footer_html,
    footer_stencils,
    footer_text,
    link_values,
    sender_of,
)
from notifier.delivery.rendering.markup import (
    Protected,
    check_blocks_balanced,
    check_survived,
    locate_markup_problem,
    protect,
)
from notifier.delivery.rendering.mjml_tags import refuse_unknown_tags
from notifier.delivery.rendering.promotion import refuse_promotion
from notifier.delivery.rendering.stencil import (
    Hole,
    Markers,
    Stencil,
    hole_values,
    holes_of,
    html_quote,
)
from notifier.delivery.rendering.text import html_to_text, tidy

_TAIL = "</body></html>"
_POSITION = re.compile(r"position (\d+)")
_REFUSED: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Extends, "templates cannot extend other templates"),
    (nodes.Include, "templates cannot include other templates"),
    (nodes.Import, "templates cannot import other templates"),
    (nodes.FromImport, "templates cannot import other templates"),
    (nodes.EvalContextModifier, "{% autoescape %} is not allowed: output is always escaped"),
)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class MessageStencil:
    """The parts rendered once for one locale, time zone, campaign data and sender.

    Slots of `page` and `text_footer` past the holes' are the recipient's links, in LINKS order.
    """

    holes: tuple[Hole, ...]
    sender: tuple[object, ...]
    subject: Stencil
    page: Stencil  # the HTML document with its footer
    text: Stencil
    text_footer: Stencil


@dataclass(frozen=True)
class FilledMessage:
    """One recipient's message from a stencil, the HTML still in pieces (to encode them once)."""

    subject: str
    text: str
    page: Stencil
    page_values: list[str]

    def rendered(self) -> RenderedMessage:
        return RenderedMessage(self.subject, self.page.fill(self.page_values), self.text)


class CompiledTemplate:
    """One campaign's template, ready to render per recipient; only Jinja runs per message."""

    __slots__ = (
        "_body_source", "_holes", "_html", "_proven", "_subject", "_text", "advertising", "label",
        "uses_links",
    )  # fmt: skip

    def __init__(
        self,
        *,
        subject: Template,
        html: Template,
        text: Template,
        body_source: Template,
        advertising: bool,
        label: str,
        holes: tuple[Hole, ...] | None = None,
        uses_links: bool = False,
    ) -> None:
        self._subject, self._html, self._text = subject, html, text
        # Whether it names `links` at all: only then does the composer sign those links.
        self.uses_links = uses_links
        self._body_source = body_source
        self.advertising, self.label = advertising, label
        self._holes = holes
        self._proven = False  # rendered once within the CPU budget: later renders run free

    def stencil(self, shared: Mapping[str, object], footer: FooterData) -> MessageStencil | None:
        """Render once with markers for the recipient values; None when the template uses
        them beyond printing, or when the shared data alone does not render (then each
        recipient's own render reports the problem with its line). Only the footer's sender
        and locale matter here: each recipient brings their own links."""
        if self._holes is None:
            return None
        markers = Markers.for_holes(self._holes)
        values = {**markers.context(shared), "locale": footer.locale}
        parts = []
        # Once per campaign data, locale and time zone: cheap to run on the clock.
        with cpu_budget():
            for part, template in zip(Part, (self._subject, self._html, self._text), strict=True):
                try:
                    parts.append(markers.cut(template.render(values)))
                except BudgetExceeded as exc:
                    raise TemplateError(part, None, str(exc)) from None
                except Exception:
                    return None
        subject, html, text = parts
        if subject is None or html is None or text is None:
            return None
        html_footer, text_footer = footer_stencils(footer)
        page = html.then(html_footer, len(self._holes)).then_text(_TAIL)
        return MessageStencil(self._holes, sender_of(footer), subject, page, text, text_footer)

    def fill(
        self, stencil: MessageStencil, context: Mapping[str, object], footer: FooterData
    ) -> RenderedMessage | None:
        """The same message render() makes, by joins; None when only render() can tell."""
        if footer.advertising is not self.advertising:
            raise ValueError("the footer's purpose kind does not match the template's")
        if sender_of(footer) != stencil.sender:
            return None
        filled = self.fill_parts(stencil, context, link_values(footer))
        return filled.rendered() if filled is not None else None

    def fill_parts(
        self, stencil: MessageStencil, context: Mapping[str, object], links: list[str]
    ) -> FilledMessage | None:
        """fill() for the send loop: the recipient's links (LINKS order) instead of a footer
        made for each message; the stencil's sender is the composer's own."""
        as_text = hole_values(stencil.holes, context)
        if as_text is None:
            return None
        as_html = [html_quote(value) for value in as_text]
        subject = one_line(stencil.subject.fill(as_text))
        body_text = tidy(stencil.text.fill(as_text))
        return FilledMessage(
            subject=self._labelled(subject),
            text=f"{body_text}\n{stencil.text_footer.fill(links)}",
            page=stencil.page,
            page_values=[*as_html, *(html_quote(link) for link in links)],
        )

    def render(self, context: Mapping[str, object], footer: FooterData) -> RenderedMessage:
        """Raises TemplateError (with part and line) when the data does not fit the template."""
        if footer.advertising is not self.advertising:
            raise ValueError("the footer's purpose kind does not match the template's")
        values = {**context, "locale": footer.locale}
        if self._proven:
            subject, html, text = self._parts(values)
        else:
            with cpu_budget():
                subject, html, text = self._parts(values)
            self._proven = True
        return RenderedMessage(
            subject=self._labelled(subject),
            html=f"{html}{footer_html(footer)}{_TAIL}",
            text=f"{tidy(text)}\n{footer_text(footer)}",
        )

    def _parts(self, values: dict[str, object]) -> tuple[str, str, str]:
        subject = one_line(self._run(Part.SUBJECT, self._subject, values))
        html = self._run(Part.BODY, self._html, values)
        return subject, html, self._run(Part.TEXT, self._text, values)

    def _labelled(self, subject: str) -> str:
        # Typed by staff or not, the label appears exactly once on advertising and never on service.
        if subject[: len(self.label)].casefold() == self.label.casefold():
            subject = subject[len(self.label) :].lstrip()
        return f"{self.label} {subject}".rstrip() if self.advertising else subject

    def _run(self, part: Part, template: Template, values: dict[str, object]) -> str:
        try:
            return template.render(values)
        except Exception as exc:
            line = _template_line(exc)
            if part is Part.BODY:
                # The compiled HTML's lines mean nothing to staff; the MJML source has the same
                # Jinja tags in the same order, so it fails at the same tag, on the staff's line.
                line = None
                try:
                    self._body_source.render(values)
                except Exception as again:
                    line = _template_line(again)
            raise TemplateError(part, line, _describe(exc)) from None


def compile_template(
    subject: str, body_mjml: str, text: str | None, *, advertising: bool, label: str = "[QC]"
) -> CompiledTemplate:
    """MJML -> HTML once, then three sandboxed Jinja templates. Raises TemplateError."""
    if not label or one_line(label) != label:
        raise ValueError("the advertising label must be a non-empty single line")
    if not advertising:
        parts = {Part.SUBJECT: subject, Part.BODY: body_mjml, Part.TEXT: text or ""}
        refuse_promotion(parts)
    subject_template, subject_holes = _compile(STAFF_PLAIN, Part.SUBJECT, subject)
    body_source, _ = _compile(STAFF_HTML, Part.BODY, body_mjml)
    protected = protect(body_mjml)
    refuse_unknown_tags(protected)
    html = _mjml(protected)
    check_survived(html, protected)
    check_blocks_balanced(html, protected)
    document = html.rstrip()
    if not document.endswith(_TAIL):
        raise TemplateError(Part.BODY, None, "MJML did not produce a complete document")
    document = document[: -len(_TAIL)]
    if text is None:
        text = protected.restore(html_to_text(document))
    html_template, html_holes = _compile(STAFF_HTML, Part.BODY, protected.restore(document))
    text_template, text_holes = _compile(STAFF_PLAIN, Part.TEXT, text)
    uses_links = any(names_links(STAFF_PLAIN, source) for source in (subject, body_mjml, text))
    holes: tuple[Hole, ...] | None = None
    if subject_holes is not None and html_holes is not None and text_holes is not None:
        holes = tuple(dict.fromkeys((*subject_holes, *html_holes, *text_holes)))
    return CompiledTemplate(
        subject=subject_template,
        html=html_template,
        text=text_template,
        body_source=body_source,
        advertising=advertising,
        label=label,
        holes=holes,
        uses_links=uses_links,
    )


def names_links(env: Environment, source: str | None) -> bool:
    """Whether a (syntactically valid) template names the recipient's `links`."""
    return source is not None and any(
        name.name == "links" for name in env.parse(source).find_all(nodes.Name)
    )


def _compile(env: Environment, part: Part, source: str) -> tuple[Template, tuple[Hole, ...] | None]:
    """The template and the recipient values it prints (None: it uses them otherwise)."""
    try:
        tree = env.parse(source)
        for node_type, problem in _REFUSED:
            node = tree.find(node_type)
            if node is not None:
                raise TemplateError(part, node.lineno, problem)
        holes = holes_of(tree)
        return env.from_string(tree), holes  # unknown filters and tests are found here
    except TemplateSyntaxError as exc:
        raise TemplateError(part, exc.lineno, exc.message or str(exc)) from None


def _mjml(protected: Protected) -> str:
    try:
        # fonts={}: no web-font links, so opening a message tells no font host the reader's address.
        return mjml2html(protected.text, fonts={})
    except ValueError as exc:  # the MJML parser names no line, at best a byte position
        found = locate_markup_problem(protected)
        if found is not None:
            raise TemplateError(Part.BODY, found[0], f"MJML: {found[1]}") from None
        position = _POSITION.search(str(exc))
        line = None
        if position:
            offset = len(protected.text.encode()[: int(position[1])].decode(errors="ignore"))
            line = protected.original_line(offset)
        raise TemplateError(Part.BODY, line, f"MJML: {exc}") from None


def _template_line(exc: BaseException) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.TemplateError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
