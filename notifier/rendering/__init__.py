"""Email rendering, pure: compile a staff template once per campaign, render it per recipient."""

from notifier.rendering.compiler import CompiledTemplate, RenderedMessage, compile_template
from notifier.rendering.errors import Part, TemplateError
from notifier.rendering.footer import FooterData
from notifier.rendering.ics import event_ics
from notifier.rendering.layouts import Layout, builtin_layouts
from notifier.rendering.promotion import PROMOTION_CLASS

__all__ = [
    "PROMOTION_CLASS",
    "CompiledTemplate",
    "FooterData",
    "Layout",
    "Part",
    "RenderedMessage",
    "TemplateError",
    "builtin_layouts",
    "compile_template",
    "event_ics",
]
