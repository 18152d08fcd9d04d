"""A tracked message made by the stencil (links cut out once) is the page Jinja renders whole
with its links replaced the same way: both paths of the composer track the same links."""

from __future__ import annotations

from dataclasses import replace

import pytest

from notifier.delivery.rendering.footer import link_values
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.delivery.rendering.stencil import html_quote
from notifier.delivery.rendering.tracking import track_html, tracked_page

from .test_rendering_layouts import NOW, identity
from .test_rendering_stencil import RECIPIENTS, STENCILLED

BASE = "https://x.test"


@pytest.mark.parametrize("key", STENCILLED)
@pytest.mark.parametrize("locale", ["vi", "en"])
@pytest.mark.parametrize("pixel", [True, False])
def test_the_stencil_tracks_the_links_a_whole_render_tracks(
    key: str, locale: str, pixel: bool
) -> None:
    layout = builtin_layouts()[key]
    compiled = layout.compile()
    # The recipient's own links under BASE, as the composer's are under PUBLIC_BASE_URL.
    footer = replace(
        layout.sample_footer(locale, identity("dcnet")),
        unsubscribe_url=f"{BASE}/u/1",
        unsubscribe_all_url=f"{BASE}/u/2",
        preferences_url=f"{BASE}/p/3",
    )
    own = {"rsvp": f"{BASE}/e/1?a=1&b=<2>", "web_view": f"{BASE}/m/1"}
    shared = {**layout.sample(locale, NOW, identity("dcnet")), "links": own}
    shared["time_zone"] = "Asia/Ho_Chi_Minh"
    context = {**shared, **RECIPIENTS[1]}
    stencil = compiled.stencil({k: v for k, v in shared.items() if k != "links"}, footer)
    assert stencil is not None
    filled = compiled.fill_parts(stencil, context, link_values(footer))
    assert filled is not None
    own_base = BASE
    tracked = tracked_page(stencil.page, len(filled.page_values), own_base, pixel)
    assert tracked.destinations, "the layout links somewhere"
    clicks = [html_quote(f"{BASE}/t/c/{i}") for i in range(len(tracked.destinations))]
    values = [*filled.page_values, *clicks, *([f"{BASE}/t/o/x"] if pixel else [])]
    fast = tracked.stencil.fill(values)
    whole = compiled.render(context, footer).html
    slow = track_html(
        whole, own_base, lambda i, url: f"{BASE}/t/c/{i}", f"{BASE}/t/o/x" if pixel else None
    )
    assert fast == slow
