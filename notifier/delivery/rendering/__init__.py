"""Email rendering, pure: compile a staff template once per campaign, render it per recipient."""

from notifier.delivery.rendering.compiler import CompiledTemplate, RenderedMessage, compile_template
from notifier.delivery.rendering.errors import Part, TemplateError
from notifier.delivery.rendering.footer import FooterData
from notifier.delivery.rendering.ics import event_ics
from notifier.delivery.rendering.layouts import Layout, builtin_layouts
from notifier.delivery.rendering.promotion import PROMOTION_CLASS

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
