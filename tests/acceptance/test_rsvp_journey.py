"""A guest registers for an event from the invitation's RSVP link and is reminded before it:
gunicorn, worker and scheduler as separate processes, entered only through the API, HTTP forms
and the SMTP sink. The event starts in three hours, so the scheduler's reminder is due as soon
as the guest has registered; the guest lives in a time zone where it is midday now (the quiet
hours are the contact's own)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from tests.acceptance.conftest import Product
from tests.acceptance.journeys import (
    mail_to,
    text_of,
    wait_until,
    web_form_consent,
    with_workers,
)
from tests.acceptance.test_subscriptions_journey import call, key_for
from tests.acceptance.visitor import Visitor
from tests.smtp_server import SmtpTestServer

GUEST = "khach.su.kien@example.com"
INVITATION, CONFIRMED, REMINDER = "Thư mời", "Xác nhận đăng ký tham dự", "Nhắc lịch"


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now (Etc/GMT-N is UTC+N)."""
    offset = 12 - now.hour
    offset = offset + 24 if offset < -12 else offset - 24 if offset > 14 else offset
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def subjects(sink: SmtpTestServer) -> list[str]:
    return [str(m["Subject"]) for m in mail_to(sink, GUEST)]


def count(sink: SmtpTestServer, start: str) -> int:
    return sum(1 for s in subjects(sink) if start in s)


def test_a_guest_registers_from_the_invitation_and_is_reminded_once(
    product: Product, sink: SmtpTestServer
) -> None:
    with_workers(product)
    key = key_for(product, "events", "contacts", "templates", "campaigns")
    now = datetime.now(UTC)
    guest = {
        "external_ref": "SK-1", "email": GUEST, "name": "Trần Thị Thu", "locale": "vi",
        "time_zone": midday_zone(now), "tags": ["su-kien"],
        "consents": [web_form_consent("events")],
    }  # fmt: skip
    status, answer = call(product, key, "POST", "/contacts", guest)
    assert status == 201, answer
    layout = {"layout": "event", "name": "Thư mời sự kiện", "purpose": "events"}
    status, copied = call(product, key, "POST", "/templates/from-layout", layout)
    assert status == 201, copied
    data = dict(copied["sample_data"]["vi"])
    starts = (now + timedelta(hours=3)).replace(microsecond=0)
    data.update(starts_at=starts.isoformat(), ends_at=(starts + timedelta(hours=2)).isoformat())
    status, campaign = call(product, key, "POST", "/campaigns", {
        "name": "Ngày hội khách hàng", "kind": "event", "purpose": "events",
        "template_id": copied["template"]["id"], "data": data, "audience": {"tags": ["su-kien"]},
    })  # fmt: skip
    assert status == 201, campaign
    status, scheduled = call(product, key, "POST", f"/campaigns/{campaign['id']}/schedule")
    assert status == 200, scheduled

    wait_until(lambda: count(sink, INVITATION), "the invitation at the SMTP server", within=120)
    (invitation,) = mail_to(sink, GUEST)
    link = re.search(re.escape(product.base_url) + r"/e/[A-Za-z0-9_-]+", text_of(invitation))
    assert link, text_of(invitation)
    guest_browser = Visitor(product.base_url)
    page = guest_browser.get(link[0])
    assert page.status == 200 and "Xác nhận đăng ký tham dự" in page.body
    time.sleep(2)  # a GET records nothing: no confirmation follows it
    assert count(sink, CONFIRMED) == 0
    registered = guest_browser.submit(page, urlpath(link[0]))
    assert registered.status == 200 and "Bạn đã đăng ký thành công" in registered.body
    second = guest_browser.submit(page, urlpath(link[0]))  # back, and the button once more
    assert "Bạn đã đăng ký tham dự sự kiện này rồi" in second.body

    wait_until(lambda: count(sink, CONFIRMED) and count(sink, REMINDER), "confirmation, reminder")
    time.sleep(5)  # several scheduler rounds later: nothing more
    assert sorted(subjects(sink)) == sorted(
        [invitation["Subject"], "Xác nhận đăng ký tham dự sự kiện",
         "Nhắc lịch: sự kiện của bạn sắp diễn ra"]
    )  # fmt: skip
    confirmation = next(m for m in mail_to(sink, GUEST) if CONFIRMED in str(m["Subject"]))
    assert "Ngày hội khách hàng" in text_of(confirmation)
    assert [p.get_filename() for p in confirmation.iter_attachments()] == ["invite.ics"]
    status, report = call(product, key, "GET", f"/campaigns/{campaign['id']}")
    assert status == 200 and report["rsvps"] == 1


def urlpath(url: str) -> str:
    return "/e/" + url.rpartition("/e/")[2]
