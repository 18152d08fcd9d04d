"""Plain-text part from compiled email HTML: paragraphs kept, links as "text (url)", no CSS."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"head", "style", "script", "title", "noscript", "template"})
_BLOCKS = frozenset(
    {"p", "div", "table", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
     "blockquote", "section", "article", "header", "footer", "center"}
)  # fmt: skip
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
     "wbr"}
)  # fmt: skip
_HIDDEN = re.compile(r"display\s*:\s*none", re.I)
_SPACE = re.compile(r"[ \t\r\f\v\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING = re.compile(r"[ \t]+\n")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[tuple[str, bool]] = []  # (tag, starts a hidden or skipped region)
        self.quiet = 0
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in _VOID:
            self._void(tag)
            return
        silences = tag in _SKIP or bool(_HIDDEN.search(values.get("style", "")))
        self.open.append((tag, silences))
        self.quiet += silences
        if self.quiet:
            return
        if tag in _BLOCKS:
            self.out.append("\n\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "a":
            self.links.append((values.get("href", "").strip(), len(self.out)))

    def _void(self, tag: str) -> None:
        if self.quiet:
            return
        if tag == "br":
            self.out.append("\n")
        elif tag == "hr":
            self.out.append("\n\n----------\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if not any(name == tag for name, _ in self.open):
            return
        while True:
            name, silences = self.open.pop()
            self.quiet -= silences
            if name == tag:
                break
        if self.quiet:
            return
        if tag in _BLOCKS:
            self.out.append("\n\n")
        elif tag == "a" and self.links:
            self._link(*self.links.pop())

    def _link(self, href: str, start: int) -> None:
        label = _SPACE.sub(" ", "".join(self.out[start:])).strip()
        shown = href.removeprefix("mailto:")
        if href and not href.startswith("#") and shown != label:
            self.out.append(f" ({shown})" if label else shown)

    def handle_data(self, data: str) -> None:
        if not self.quiet:
            self.out.append(_SPACE.sub(" ", data))


def html_to_text(html: str) -> str:
    converter = _Converter()
    converter.feed(html)
    converter.close()
    lines = (line.strip() for line in "".join(converter.out).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"


def tidy(text: str) -> str:
    """Blank lines left by untaken Jinja branches are squeezed, so the text part reads cleanly."""
    # Once per message: a substring test (memchr-fast) spares the regex scans of a clean text.
    if " \n" in text or "\t\n" in text:
        text = _TRAILING.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip() + "\n"
