"""A recipient's signed links are made when a template reads them, once, and only then."""

from __future__ import annotations

import pytest

from notifier.delivery.composer import TemplateLinks
from notifier.delivery.rendering.environment import STAFF_PLAIN


def test_a_signed_link_is_made_on_first_read_and_once() -> None:
    made: list[str] = []

    def maker(name: str) -> str:
        made.append(name)
        return f"https://x.vn/{name}/signed"

    links = TemplateLinks(
        {"unsubscribe": "https://x.vn/u/1"},
        {"rsvp": lambda: maker("rsvp"), "web_view": lambda: maker("web_view")},
    )
    page = STAFF_PLAIN.from_string(
        "{{ links.web_view }} {{ links.web_view }} {{ links.unsubscribe }}"
    )
    assert page.render(links=links) == (
        "https://x.vn/web_view/signed https://x.vn/web_view/signed https://x.vn/u/1"
    )
    assert made == ["web_view"]  # the RSVP link was never signed: nothing read it
    assert sorted(links) == ["rsvp", "unsubscribe", "web_view"] and len(links) == 3
    with pytest.raises(KeyError):
        links["nope"]
