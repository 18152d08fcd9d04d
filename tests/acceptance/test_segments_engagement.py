"""Staff save a segment of the people who clicked in the last 30 days, the click made through the
real redirect link read from a mail at the SMTP server, and a campaign for that segment reaches
exactly that person: gunicorn, a worker and the scheduler as separate processes.

Its own module: a module-scoped product (tests/acceptance/test_segments.py) shares the Redis
database, so its still-running worker would take this product's jobs."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import LocalDns, Product, started
from tests.acceptance.journeys import (
    mail_to,
    staff_session,
    wait_until,
    web_form_consent,
    with_workers,
)
from tests.acceptance.test_subscriptions_journey import key_for, posted
from tests.acceptance.test_tracking_journey import (
    PHONE,
    PREFETCH_SECONDS,
    _Stay,
    tracked_profile,
)
from tests.acceptance.test_web_view_journey import html_of
from tests.smtp_server import SmtpTestServer

CLICKER = "khach.bam@example.com"
SCANNED = "khach.quet@example.com"


@pytest.fixture
def tracked(
    tmp_path: Path, redis_url: str, dns: LocalDns, sink: SmtpTestServer
) -> Iterator[Product]:
    """The product on a profile whose promotions notice discloses click and open tracking."""
    settings = {
        "NOTIFIER_PROFILE": str(tracked_profile(tmp_path)),
        "NOTIFIER_TRACKING_PREFETCH_SECONDS": str(PREFETCH_SECONDS),
    }
    with started(tmp_path, redis_url, dns, sink, settings) as running:
        yield with_workers(running)


def test_clicked_in_the_last_30_days_reaches_exactly_the_person_who_clicked(
    tracked: Product, sink: SmtpTestServer
) -> None:
    """A click through the real redirect (the link read from the mail at the SMTP server), a
    segment "clicked in the last 30 days" saved in the builder, and a campaign for that segment
    that reaches that one person; the other customer, whose mail was only fetched by a scanner,
    is not reached."""
    key = key_for(tracked, "marketing", "contacts", "templates", "campaigns")
    for ref, email in (("SE-1", CLICKER), ("SE-2", SCANNED)):
        posted(tracked, key, "/contacts", {
            "external_ref": ref, "email": email, "name": "Khách " + ref, "locale": "vi",
            "tags": ["engaged-test"], "consents": [web_form_consent("promotions")],
        })  # fmt: skip
    layout = {"layout": "promotion", "name": "Khuyến mãi", "purpose": "promotions"}
    copied = posted(tracked, key, "/templates/from-layout", layout)

    def send(name: str, audience: dict[str, object]) -> None:
        campaign = posted(tracked, key, "/campaigns", {
            "name": name, "kind": "promotion", "purpose": "promotions",
            "template_id": copied["template"]["id"], "data": copied["sample_data"]["vi"],
            "audience": audience,
        })  # fmt: skip
        posted(tracked, key, f"/campaigns/{campaign['id']}/schedule", status=200)

    send("Ưu đãi đầu tiên", {"tags": ["engaged-test"]})
    for email in (CLICKER, SCANNED):
        wait_until(lambda e=email: mail_to(sink, e), f"the first promotion to {email}", within=120)
    time.sleep(PREFETCH_SECONDS + 1)  # past the prefetch window: a person's click
    for email, agent in ((CLICKER, PHONE), (SCANNED, "Mozilla/5.0 (compatible; Barracuda)")):
        (mail,) = mail_to(sink, email)
        base = re.escape(tracked.base_url)
        link = re.search(r'href="(' + base + r'/t/c/[A-Za-z0-9_-]+)"', html_of(mail))
        assert link, html_of(mail)
        try:
            urllib.request.build_opener(_Stay()).open(
                urllib.request.Request(link[1], headers={"User-Agent": agent}), timeout=30
            )
            raise AssertionError("the tracked link must redirect")
        except urllib.error.HTTPError as answer:
            assert answer.code == 302

    staff = staff_session(tracked, "tiepthi.phankhuc@example.com", "marketing")
    builder = staff.get("/admin/segments/new")
    assert builder.status == 200, builder.body[:2000]
    row = {"group_0": "1", "field_0": "clicked", "op_0": "within", "value_0": "30"}
    too_far = staff.submit(builder, "/admin/segments/new",
                           {"name": "Quá xa", "rows": "1", "match": "all", "action": "save",
                            **row, "value_0": "91"})  # fmt: skip
    assert too_far.status == 422 and "tối đa 90 ngày" in too_far.body, too_far.body[:3000]
    saved = staff.submit(builder, "/admin/segments/new",
                         {"name": "Bấm trong 30 ngày", "rows": "1", "match": "all",
                          "action": "save", **row})  # fmt: skip
    found = re.search(r"/admin/segments/(\d+)$", saved.url)
    assert saved.status == 200 and found, (saved.status, saved.url, saved.body[:3000])
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', saved.body)
    assert token, saved.body[:2000]
    live = staff.post("/admin/segments/count", [
        ("csrf_token", token[1]), ("purpose_key", "promotions"), ("rows", "1"), ("match", "all"),
        *row.items(),
    ])  # fmt: skip
    assert 'data-testid="segment-total">1<' in live.body, live.body

    since = len(sink.messages)
    send("Ưu đãi cho người đã bấm", {"segment": int(found[1])})
    wait_until(lambda: mail_to(sink, CLICKER, since), "the second promotion", within=120)
    time.sleep(3)  # a wrong second recipient would be at the sink by now
    assert [r for m in sink.messages[since:] for r in m.rcpt_tos] == [CLICKER]
