"""A tracked message's links are cut out of the stencil once; untracked and own links stay."""

from __future__ import annotations

from notifier.delivery.rendering.stencil import Stencil
from notifier.delivery.rendering.tracking import links_of, track_html, tracked_page

BASE = "https://mail.example.vn"
PAGE = (
    '<html><body><a class="b" href="https://shop.example.vn/a?x=1&amp;y=2">A</a> Chào '
    '<a href="https://shop.example.vn/ref?n=',  # a link holding the recipient's value
    '">B</a><link href="https://fonts.example.com/css">'
    f'<a href="{BASE}/u/TOKEN">huỷ</a><a href="mailto:x@y.vn">m</a>'
    '<a href="http://blog.example.vn/">C</a></body></html>',
)


def _stencil() -> Stencil:
    return Stencil([PAGE[0], "", PAGE[1]], [0])


def test_links_become_holes_after_the_recipient_values_and_the_pixel_before_body() -> None:
    tracked = tracked_page(_stencil(), first_slot=4, own_base=BASE, pixel=True)
    assert tracked.destinations == ("https://shop.example.vn/a?x=1&y=2", "http://blog.example.vn/")
    values = ["VALUE0", "", "", "", "LINK0", "LINK1", "PIXEL"]
    page = tracked.stencil.fill(values)
    assert 'href="LINK0"' in page and 'href="LINK1"' in page
    assert 'href="https://shop.example.vn/ref?n=VALUE0"' in page  # per-recipient: untouched
    assert f'href="{BASE}/u/TOKEN"' in page  # our own pages are never rewritten
    assert 'href="https://fonts.example.com/css"' in page and "mailto:x@y.vn" in page
    assert page.index('src="PIXEL"') < page.index("</body>")
    # With every link given back as it was, the page is the untracked one (plus the pixel).
    plain = tracked_page(_stencil(), 4, BASE, pixel=False).stencil.fill(
        ["VALUE0", "", "", "", "https://shop.example.vn/a?x=1&amp;y=2", "http://blog.example.vn/"]
    )
    assert plain == _stencil().fill(["VALUE0"])


def test_a_whole_page_gets_the_same_links_in_the_same_order() -> None:
    html = _stencil().fill(["VALUE0"])
    made = track_html(html, BASE, lambda i, url: f"{BASE}/t/c/{i}", f"{BASE}/t/o/x")
    assert f'href="{BASE}/t/c/0"' in made and f'href="{BASE}/t/c/1"' in made
    assert f'href="{BASE}/t/c/2"' in made  # rendered whole, the recipient's link is plain text
    assert made.index(f'src="{BASE}/t/o/x"') < made.index("</body>")
    assert links_of(html, BASE)[0] == "https://shop.example.vn/a?x=1&y=2"
