"""Cut a message's links out of its HTML, so a tracked recipient's message gets signed redirect
links (`/t/c/<token>`) and an open pixel (`/t/o/<token>`) in their place.

Done once per stencil (campaign data, locale, time zone): the links become holes of the page,
and each tracked message only fills them. Only `<a href="http(s)://...">` written whole in the
template's constant text is tracked: a link holding a recipient value (a hole), a link to our own
pages (unsubscribe, preferences, web view, RSVP: all under the public base URL) and a link
longer than MAX_TRACKED_URL stay as they are.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from notifier.delivery.rendering.stencil import Stencil, html_quote
from notifier.domain.tokens import MAX_TRACKED_URL

_ANCHOR_HREF = re.compile(r"""(<a\b[^<>]*?\shref=")(https?://[^"<>\s]+)(")""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
MAX_LINKS = 256  # the link index is one byte of the token
PIXEL = (
    '<img src="{}" width="1" height="1" alt="" '
    'style="display:block;border:0;width:1px;height:1px;overflow:hidden">'
)


def _trackable(url: str, own_base: str) -> bool:
    return len(url.encode("utf-8")) <= MAX_TRACKED_URL and not url.startswith(own_base)


def links_of(text: str, own_base: str) -> list[str]:
    """The destinations a tracked message's links lead to, in order: link i is index i."""
    return [
        url
        for match in _ANCHOR_HREF.finditer(text)
        if _trackable(url := html.unescape(match.group(2)), own_base)
    ][:MAX_LINKS]


@dataclass(frozen=True)
class TrackedPage:
    """A page stencil whose links (and, with opens, the pixel) are holes after `first_slot`."""

    stencil: Stencil
    destinations: tuple[str, ...]  # link i's destination fills slot first_slot + i
    pixel: bool  # slot first_slot + len(destinations) is the pixel's URL


def _cut(text: str, own_base: str, found: list[str]) -> list[str]:
    """text cut at each trackable href: constant, link, constant, ...; the links join found."""
    pieces, start = [], 0
    for match in _ANCHOR_HREF.finditer(text):
        url = html.unescape(match.group(2))
        if len(found) >= MAX_LINKS or not _trackable(url, own_base):
            continue
        pieces.append(text[start : match.end(1)])
        pieces.append(url)
        found.append(url)
        start = match.start(3)
    pieces.append(text[start:])
    return pieces


def tracked_page(page: Stencil, first_slot: int, own_base: str, pixel: bool) -> TrackedPage:
    """The page with its trackable links, and the pixel before `</body>`, made into holes."""
    constants: list[str] = []
    slots: list[int] = []
    found: list[str] = []
    for index, constant in enumerate(page.constants):
        before = len(found)
        texts = _cut(constant, own_base, found)[::2]
        constants.extend(texts)
        slots.extend(first_slot + before + k for k in range(len(texts) - 1))
        if index < len(page.slots):
            slots.append(page.slots[index])
    if pixel:
        constants, slots = _with_pixel(constants, slots, first_slot + len(found))
    return TrackedPage(_stencil(constants, slots), tuple(found), pixel)


def _stencil(constants: list[str], slots: list[int]) -> Stencil:
    parts = [""] * (2 * len(constants) - 1)
    parts[::2] = constants
    return Stencil(parts, slots)


def _with_pixel(constants: list[str], slots: list[int], slot: int) -> tuple[list[str], list[int]]:
    """The pixel's hole before the last `</body>` (at the end when there is none)."""
    index, at = len(constants) - 1, len(constants[-1])
    for position in range(len(constants) - 1, -1, -1):
        ends = list(_BODY_END.finditer(constants[position]))
        if ends:
            index, at = position, ends[-1].start()
            break
    head, tail = PIXEL.split("{}")
    text = constants[index]
    return (
        [*constants[:index], text[:at] + head, tail + text[at:], *constants[index + 1 :]],
        [*slots[:index], slot, *slots[index:]],
    )


def track_html(
    text: str, own_base: str, click_url: Callable[[int, str], str], open_url: str | None
) -> str:
    """A whole rendered page (a template Jinja renders per recipient), its links replaced by
    click_url(index, destination) and the pixel added when open_url is given."""
    pieces = _cut(text, own_base, [])
    out = [pieces[0]]
    for position in range(1, len(pieces), 2):
        out.append(html_quote(click_url(position // 2, pieces[position])))
        out.append(pieces[position + 1])
    tracked = "".join(out)
    if open_url is None:
        return tracked
    pixel = PIXEL.format(html_quote(open_url))
    ends = list(_BODY_END.finditer(tracked))
    if not ends:
        return tracked + pixel
    at = ends[-1].start()
    return tracked[:at] + pixel + tracked[at:]
