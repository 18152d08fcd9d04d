"""Render a campaign once and fill in each recipient, when the template allows it.

Most campaign templates use the recipient only as `{{ contact_name }}` or `{{ contact.email }}`
printed as it is. For those, every recipient's message is the same text with a few values in
a few places, so the template is rendered once with markers and each message is a join: about
thirty times cheaper than running Jinja three times per recipient.

Whether a template qualifies is decided from its syntax tree: a recipient value used anywhere
else (a condition, a filter, a loop, `{% set %}`, a macro argument, ...) could change text
beyond its own place, so such a template is rendered per recipient as before. Locale and time
zone change the whole text (translations, dates), so a stencil is made per pair of them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from jinja2 import nodes
from markupsafe import escape

# The names compose() puts in the context per recipient; everything else is the campaign's.
# `links` holds the recipient's own signed links (`{{ links.rsvp }}`, see composer.py).
RECIPIENT_NAMES = frozenset({"contact", "contact_name", "links"})
_KEYED_NAMES = frozenset({"contact", "links"})
# A renewal campaign's per-recipient subscription data: a template that names these at all is
# rendered per recipient by Jinja (they are dates, money and lists, rarely printed as they are).
JINJA_ONLY_NAMES = frozenset({"subscription", "subscriptions"})
_SIMPLE_VALUE = (str, int, float)


@dataclass(frozen=True)
class Hole:
    """One recipient value: `contact_name`, or the key of `contact.<key>` / `contact['key']`
    (or of `links`)."""

    name: str
    key: str | None = None

    def value(self, context: Mapping[str, object]) -> object:
        if self.key is None:
            return context[self.name]
        contact = context[self.name]
        if not isinstance(contact, Mapping):
            raise KeyError(self.key)
        return contact[self.key]


def holes_of(tree: nodes.Template) -> tuple[Hole, ...] | None:
    """The recipient values the template prints, or None when it uses them in any other way."""
    holes: dict[Hole, None] = {}
    printed: set[int] = set()
    for output in tree.find_all(nodes.Output):
        for child in output.nodes:
            hole = _printed_hole(child)
            if hole is not None:
                holes[hole] = None
                named = child.node if isinstance(child, nodes.Getattr | nodes.Getitem) else child
                printed.add(id(named))
    for name in tree.find_all(nodes.Name):
        if name.name in JINJA_ONLY_NAMES:
            return None
        if name.name in RECIPIENT_NAMES and id(name) not in printed:
            return None
    return tuple(holes)


def _printed_hole(node: nodes.Node) -> Hole | None:
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name == "contact_name":
        return Hole("contact_name")
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name in _KEYED_NAMES):
            return None
        if isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            key = node.arg.value
        else:
            return None
        # `contact.items` is the dict's method, not a key: Jinja's own lookup must decide that.
        if isinstance(node, nodes.Getattr) and hasattr(dict, key):
            return None
        return Hole(target.name, key)
    return None


class Stencil:
    """A text cut where recipient values go: constants[i], value of slots[i], constants[i + 1]..."""

    __slots__ = ("_parts", "slots")

    def __init__(self, parts: list[str], slots: list[int]) -> None:
        if len(parts) != 2 * len(slots) + 1:
            raise ValueError("a stencil alternates constants and holes, constants at both ends")
        self._parts, self.slots = parts, slots

    @property
    def constants(self) -> list[str]:
        return self._parts[::2]

    def fill(self, values: list[str]) -> str:
        pieces = self._parts.copy()
        for position, index in zip(self.slots, range(1, len(pieces), 2), strict=True):
            pieces[index] = values[position]
        return "".join(pieces)

    def in_order(self, values: list[str]) -> list[str]:
        """The value for each hole, from the first hole to the last."""
        return [values[position] for position in self.slots]

    def then(self, other: Stencil, offset: int) -> Stencil:
        """This text followed by other, whose slots count from offset in the joint value list."""
        parts = [*self._parts[:-1], self._parts[-1] + other._parts[0], *other._parts[1:]]
        return Stencil(parts, [*self.slots, *(slot + offset for slot in other.slots)])

    def then_text(self, text: str) -> Stencil:
        return Stencil([*self._parts[:-1], self._parts[-1] + text], self.slots)


@dataclass(frozen=True)
class Markers:
    """Unguessable stand-ins (a fresh nonce each time), so no campaign text can imitate one."""

    holes: tuple[Hole, ...]
    nonce: str

    @classmethod
    def for_holes(cls, holes: Iterable[Hole]) -> Markers:
        return cls(tuple(holes), os.urandom(8).hex())

    def marker(self, index: int) -> str:
        return f"\ue000{self.nonce}:{index}\ue001"

    def context(self, shared: Mapping[str, object]) -> dict[str, object]:
        """The campaign's context with every recipient value replaced by its marker."""
        values: dict[str, object] = dict(shared)
        keyed: dict[str, dict[str, str]] = {name: {} for name in _KEYED_NAMES}
        for index, hole in enumerate(self.holes):
            if hole.key is None:
                values[hole.name] = self.marker(index)
            else:
                keyed[hole.name][hole.key] = self.marker(index)
        values.update(keyed)
        return values

    def cut(self, rendered: str) -> Stencil | None:
        """Split a rendering at the markers; None if a marker came out changed or only in part."""
        pattern = re.compile("\ue000" + self.nonce + r":(\d+)" + "\ue001")
        pieces = pattern.split(rendered)
        slots = [int(index) for index in pieces[1::2]]
        if any(self.nonce in piece for piece in pieces[::2]):
            return None  # a marker altered by a filter or cut by a slice: not a plain print
        return Stencil(pieces, slots)


def hole_values(holes: tuple[Hole, ...], context: Mapping[str, object]) -> list[str] | None:
    """Each hole's text for one recipient, unquoted, or None when only a real render can tell
    (a missing key, an unusual type: Jinja's own lookup and error message must decide)."""
    values = []
    for hole in holes:
        try:
            value = hole.value(context)
        except (KeyError, TypeError):
            return None
        if value is None:
            value = "None"  # what Jinja prints for None
        elif not isinstance(value, _SIMPLE_VALUE):
            return None
        values.append(str(value))
    return values


def html_quote(value: str) -> str:
    return str(escape(value))
