"""The attributes a template reads from `contact`, with stand-in values for a save-time check."""

from __future__ import annotations

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from notifier.delivery.rendering.environment import STAFF_PLAIN

_OWN_FIELDS = frozenset({"name", "email"})  # every contact has these: never stand-ins


def placeholder_attributes(*sources: str) -> dict[str, str]:
    """`{{ contact.tier }}` and `{{ contact['tier'] }}` -> {"tier": "[tier]"}."""
    found: dict[str, str] = {}
    for source in sources:
        try:
            tree = STAFF_PLAIN.parse(source)
        except TemplateSyntaxError:
            continue  # compiling the template reports it, with its line
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            key = _contact_key(node)
            if key is not None and key not in _OWN_FIELDS:
                found[key] = f"[{key}]"
    return found


def _contact_key(node: nodes.Node) -> str | None:
    if not isinstance(node, nodes.Getattr | nodes.Getitem):
        return None
    if not (isinstance(node.node, nodes.Name) and node.node.name == "contact"):
        return None
    if isinstance(node, nodes.Getattr):
        return node.attr
    arg = node.arg
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None
