"""An A/B subject test as staff run it: gunicorn, a worker and two schedulers as processes; the
campaign made in the admin form with two subjects, the sample at the SMTP server with both, a
person's click on B's tracked link, then the rest with B's subject, each customer once, and the
campaign page naming B the winner.

The wait is one hour of the test's own length: `NOTIFIER_AB_TEST_HOUR_SECONDS` (the processes
read the real clock, and nothing moves it for them)."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import LocalDns, Product, started
from tests.acceptance.journeys import (
    create_campaign,
    create_template,
    parse,
    schedule_now,
    staff_session,
    wait_until,
    with_workers,
)
from tests.acceptance.test_subscriptions_journey import promotion_customers
from tests.acceptance.test_tracking_journey import tracked_profile
from tests.acceptance.test_web_view_journey import html_of
from tests.smtp_server import SmtpTestServer

HOUR_SECONDS = 15  # the test's hour: the sample leaves and is clicked well within it
PREFETCH_SECONDS = 1
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
SUBJECT_A, SUBJECT_B = "Thử A: ưu đãi mùa hè", "Thử B: giảm 30% hôm nay"
CUSTOMERS = [f"ab{i}@example.com" for i in range(6)]


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.fixture
def product(
    tmp_path: Path, redis_url: str, dns: LocalDns, sink: SmtpTestServer
) -> Iterator[Product]:
    settings = {
        "NOTIFIER_PROFILE": str(tracked_profile(tmp_path)),
        "NOTIFIER_TRACKING_PREFETCH_SECONDS": str(PREFETCH_SECONDS),
        "NOTIFIER_AB_TEST_HOUR_SECONDS": str(HOUR_SECONDS),
    }
    with started(tmp_path, redis_url, dns, sink, settings) as running:
        yield running


def _subjects(sink: SmtpTestServer) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in sink.messages:
        for address in message.rcpt_tos:
            found.setdefault(address, []).append(str(parse(message.data)["Subject"]))
    return found


def test_the_sample_gets_both_subjects_and_the_rest_gets_the_winner(
    product: Product, sink: SmtpTestServer
) -> None:
    with_workers(product)
    product.start("scheduler", "--interval", "1")  # a second one: the winner is picked once
    promotion_customers(product, CUSTOMERS, "abtest")
    staff = staff_session(product, "tiepthi.ab@example.com", "marketing")
    create_template(staff, "Mẫu thử tiêu đề")
    campaign, review = create_campaign(
        staff, "Thử tiêu đề mùa hè", "Mẫu thử tiêu đề", tags="abtest",
        ab_enabled="y", ab_subject_1_vi=SUBJECT_A, ab_subject_1_en="Try A: summer offer",
        ab_subject_2_vi=SUBJECT_B, ab_subject_2_en="Try B: 30% off today",
        ab_sample_percent="50", ab_wait_hours="1", ab_metric="clicks",
    )  # fmt: skip
    assert 'data-testid="ab-test"' in review.body and SUBJECT_B in review.body
    schedule_now(staff, campaign, review)

    # The sample: half of six, A to two and B to one; the other three wait.
    wait_until(lambda: len(sink.messages) >= 3, "the sample at the SMTP server", within=60)
    time.sleep(1)
    first = _subjects(sink)
    assert len(sink.messages) == 3, first
    counts = Counter(s for subjects in first.values() for s in subjects)
    assert counts == Counter({f"[QC] {SUBJECT_A}": 2, f"[QC] {SUBJECT_B}": 1}), counts
    page = staff.get(f"/admin/campaigns/{campaign}").body
    assert "3 người nhận đang chờ tiêu đề thắng" in page, page[:4000]

    # A person opens B's mail and follows its link, through the real redirect endpoint.
    (b_customer,) = [a for a, s in first.items() if s == [f"[QC] {SUBJECT_B}"]]
    (b_mail,) = [m for m in sink.messages if b_customer in m.rcpt_tos]
    base = re.escape(product.base_url)
    link = re.findall(r'href="(' + base + r'/t/c/[A-Za-z0-9_-]+)"', html_of(parse(b_mail.data)))
    assert link
    time.sleep(PREFETCH_SECONDS + 0.5)  # past the scanners' window: a person
    try:
        urllib.request.build_opener(_Stay()).open(
            urllib.request.Request(link[0], headers={"User-Agent": PHONE}), timeout=30
        )
        raise AssertionError("the tracked link must redirect")
    except urllib.error.HTTPError as answer:
        assert answer.code == 302

    # After the wait: the rest, each with B's subject, and nobody twice.
    wait_until(lambda: len(sink.messages) >= 6, "the rest with the winner", within=90)
    time.sleep(2)  # anything more would arrive now
    received = _subjects(sink)
    assert sorted(received) == sorted(CUSTOMERS)
    assert all(len(subjects) == 1 for subjects in received.values()), received
    rest = [a for a in CUSTOMERS if a not in first]
    assert {received[a][0] for a in rest} == {f"[QC] {SUBJECT_B}"}

    page = staff.get(f"/admin/campaigns/{campaign}").body
    section = page[page.index('data-testid="ab-test"') :]
    assert re.search(r'data-testid="ab-winner"[^>]*>\s*B', section), section[:3000]
    assert 'data-testid="ab-people-2">1<' in section and 'data-testid="ab-people-1">0<' in section
    english = staff.get(f"/admin/campaigns/{campaign}?lang=en").body
    assert "highest share of people engaged" in english
