"""The stencil (render once, fill per recipient) must make exactly the message render() makes."""

from __future__ import annotations

from typing import Any

import pytest

from notifier.delivery.rendering import FooterData, TemplateError, compile_template
from notifier.delivery.rendering.layouts import builtin_layouts

from .test_rendering import footer
from .test_rendering_layouts import NOW, identity

RECIPIENTS: list[dict[str, Any]] = [
    {"contact_name": "Lan", "contact": {"name": "Lan", "email": "lan@example.com", "tier": "gold"}},
    {
        "contact_name": 'Tom <script>alert("x")</script> & Co',
        "contact": {"name": "Tom & Jerry", "email": "t&j@example.com", "tier": "<b>vip</b>"},
    },
    {
        "contact_name": "Nguyễn Thị Hồng Nhung",
        "contact": {"name": None, "email": "n@x.vn", "tier": 3},
    },
    {"contact_name": "  spaced   out  ", "contact": {"name": "a\nb", "email": "e@x", "tier": 1.5}},
]


def both_ways(compiled: Any, context: dict[str, Any], data_footer: FooterData) -> tuple[Any, Any]:
    shared = {k: v for k, v in context.items() if k not in ("contact", "contact_name")}
    stencil = compiled.stencil(shared, data_footer)
    assert stencil is not None, "this template should take the fast path"
    return compiled.render(context, data_footer), compiled.fill(stencil, context, data_footer)


# The renewal layout lists each customer's own services (`subscriptions`): in a renewal campaign
# every message is rendered whole, so it never takes the fast path (test below).
STENCILLED = sorted(key for key in builtin_layouts() if key != "renewal")


@pytest.mark.parametrize("key", STENCILLED)
@pytest.mark.parametrize("locale", ["vi", "en"])
@pytest.mark.parametrize("recipient", range(len(RECIPIENTS)))
def test_builtin_layouts_fill_exactly_as_they_render(key: str, locale: str, recipient: int) -> None:
    layout = builtin_layouts()[key]
    compiled = layout.compile()
    sample = layout.sample(locale, NOW, identity("dcnet"))
    # The event layout's button and both layouts' web view link, with characters to escape.
    links = {
        "rsvp": f"https://x.test/e/{recipient}?a=1&b=<2>",
        "web_view": f"https://x.test/m/{recipient}?a=1&b=<2>",
    }
    context = {**sample, **RECIPIENTS[recipient], "links": links, "time_zone": "Asia/Ho_Chi_Minh"}
    slow, fast = both_ways(compiled, context, layout.sample_footer(locale, identity("dcnet")))
    assert fast == slow


def test_the_renewal_layout_is_rendered_per_recipient() -> None:
    layout = builtin_layouts()["renewal"]
    sample = layout.sample("vi", NOW, identity("dcnet"))
    shared = {**sample, "time_zone": "Asia/Ho_Chi_Minh"}
    footer_data = layout.sample_footer("vi", identity("dcnet"))
    assert layout.compile().stencil(shared, footer_data) is None


BODY = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Chào {{ contact_name }} ({{ contact.email }}, hạng {{ contact['tier'] }})</mj-text>
{% for item in items %}<mj-text>{{ item }} cho {{ contact_name }}</mj-text>{% endfor %}
</mj-column></mj-section></mj-body></mjml>"""


@pytest.mark.parametrize("recipient", RECIPIENTS)
def test_values_in_loops_and_subscripts_fill_exactly(recipient: dict[str, Any]) -> None:
    compiled = compile_template(
        "Gửi {{ contact_name }} {{ contact.tier }}", BODY, None, advertising=True
    )
    context = {"items": ["a", "<b>", "c"], **recipient, "time_zone": "Asia/Ho_Chi_Minh"}
    slow, fast = both_ways(compiled, context, footer())
    assert fast == slow
    assert str(recipient["contact"]["email"]).replace("&", "&amp;") in fast.html


@pytest.mark.parametrize(
    "body_line",
    [
        "{% if contact_name %}x{% endif %}",
        "{{ contact_name|upper }}",
        "{{ contact.name ~ '!' }}",
        "{% set who = contact_name %}{{ who }}",
        "{{ contact }}",
        "{{ contact.items }}",
        "{{ contact[key] }}",
        "{% for contact in items %}{{ contact }}{% endfor %}",
        "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(contact_name) }}",
        "{{ t(contact_name, contact_name) }}",
    ],
)
def test_templates_using_recipient_values_otherwise_render_per_recipient(body_line: str) -> None:
    body = BODY.replace("{% for item in items %}", body_line + "{% for item in items %}")
    compiled = compile_template("Tin", body, None, advertising=True)
    assert compiled.stencil({"items": [], "key": "email", "time_zone": "UTC"}, footer()) is None


def test_a_missing_attribute_falls_back_to_the_render_and_its_error() -> None:
    compiled = compile_template("Tin", BODY, None, advertising=True)
    context = {"items": [], "time_zone": "UTC", "contact_name": "Lan", "contact": {"email": "x"}}
    stencil = compiled.stencil({"items": [], "time_zone": "UTC"}, footer())
    assert stencil is not None
    assert compiled.fill(stencil, context, footer()) is None
    with pytest.raises(TemplateError, match="tier"):
        compiled.render(context, footer())


def test_campaign_data_cannot_forge_a_marker() -> None:
    compiled = compile_template("{{ trap }}", BODY, None, advertising=True)
    shared = {"items": [], "time_zone": "UTC", "trap": "\ue000deadbeef:0\ue001"}
    stencil = compiled.stencil(shared, footer())
    context = {**shared, **RECIPIENTS[0]}
    assert stencil is not None
    fast = compiled.fill(stencil, context, footer())
    assert fast == compiled.render(context, footer())
    assert "\ue000deadbeef:0\ue001" in fast.subject
