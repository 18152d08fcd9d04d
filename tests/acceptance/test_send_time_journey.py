"""Staff send a promotion "at this time in each recipient's zone", and the profile holds
advertising through the night: gunicorn, a worker and the scheduler as separate processes on a
profile with email quiet hours, mail counted at the SMTP server.

The processes read the real clock, so the zones are chosen from the moment the test runs: a
zone where it is day now and one where the same wall-clock time is hours away (or where it is
night now), each with margins of at least half an hour around every boundary.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.acceptance.conftest import Product, started
from tests.acceptance.journeys import (
    create_campaign,
    create_template,
    mail_to,
    schedule_now,
    staff_session,
    wait_until,
    with_workers,
)
from tests.acceptance.test_journeys import _ensure_renewal_type
from tests.acceptance.visitor import Visitor
from tests.dns_server import LocalDns
from tests.smtp_server import SmtpTestServer

PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"
# Offsets from UTC-11 to UTC+14, at most three hours apart.
CANDIDATES = (
    "Pacific/Kiritimati", "Pacific/Auckland", "Australia/Sydney", "Asia/Tokyo",
    "Asia/Ho_Chi_Minh", "Asia/Kolkata", "Asia/Dubai", "Europe/Berlin", "Europe/London",
    "America/Sao_Paulo", "America/New_York", "America/Denver", "America/Los_Angeles",
    "Pacific/Honolulu", "Pacific/Pago_Pago",
)  # fmt: skip
GRANT = [{"purpose": "promotions", "action": "grant",
          "evidence": {"source": "web_form", "notice_version": "1", "ip": "203.0.113.7",
                       "collected_at": "2026-11-01T08:00:00+07:00"}}]  # fmt: skip


def _api(product: Product, key: str, path: str, body: object = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{product.base_url}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                 "Idempotency-Key": hashlib.sha256(f"{path}{body}".encode()).hexdigest()},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def local(zone: str, now: datetime) -> datetime:
    return now.astimezone(ZoneInfo(zone))


def offset(zone: str, now: datetime) -> timedelta:
    found = local(zone, now).utcoffset()
    assert found is not None
    return found


def minutes(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def day_zone(now: datetime) -> str:
    """The most eastern zone where it is 09:00-20:30 now: far from quiet hours both ways."""
    day = [z for z in CANDIDATES if 9 * 60 <= minutes(local(z, now)) <= 20 * 60 + 30]
    return max(day, key=lambda z: offset(z, now))


def night_zone(now: datetime) -> str:
    night = [z for z in CANDIDATES if not 7 * 60 + 30 <= minutes(local(z, now)) < 22 * 60 + 30]
    assert night, now
    return night[0]


@pytest.fixture(scope="module")
def product(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, module_sink: SmtpTestServer
) -> Iterator[Product]:
    """DCNET's profile with advertising email held from 22:00 to 08:00 in each person's zone."""
    folder = tmp_path_factory.mktemp("send-time")
    marker = 'default_time_zone = "Asia/Ho_Chi_Minh"\n'
    text = (PROFILES / "dcnet.toml").read_text("utf-8")
    profile = folder / "dcnet-quiet.toml"
    profile.write_text(text.replace(marker, f'{marker}quiet_hours.email = "22:00-08:00"\n'))
    with (
        LocalDns() as dns,
        started(folder, redis_url, dns, module_sink, {"NOTIFIER_PROFILE": str(profile)}) as running,
    ):
        yield with_workers(running)


@pytest.fixture(scope="module")
def staff(product: Product) -> Visitor:
    return staff_session(product, "ha.sendtime@example.com", role="marketing")


@pytest.fixture(scope="module")
def key(product: Product) -> str:
    created = product.cli(
        "apikey", "create", "crm", "--scope", "contacts", "--scope", "notices",
        "--scope", "campaigns",
    )  # fmt: skip
    found = re.search(r"key: (\S+)", created)
    assert found, created
    return found[1]


def add_contact(product: Product, key: str, email: str, zone: str, tag: str) -> None:
    body = {"external_ref": email, "email": email, "time_zone": zone, "tags": [tag],
            "consents": GRANT}  # fmt: skip
    status, answer = _api(product, key, "/contacts", body)
    assert status == 201, answer


def campaign_state(product: Product, key: str, campaign: int) -> dict[str, Any]:
    status, answer = _api(product, key, f"/campaigns/{campaign}")
    assert status == 200, answer
    return dict(answer)


def test_only_the_zone_whose_local_time_has_come_receives_the_campaign(
    product: Product, staff: Visitor, key: str, module_sink: SmtpTestServer
) -> None:
    sink = module_sink
    now = datetime.now(UTC)
    early = day_zone(now)
    # The wall-clock time that has just come where `early` is; it comes hours later in `late`.
    wall = (local(early, now) - timedelta(minutes=1)).replace(tzinfo=None, second=0)
    late = min(CANDIDATES, key=lambda z: offset(z, now))
    assert offset(early, now) - offset(late, now) >= timedelta(hours=2), (early, late)
    add_contact(product, key, "som@example.com", early, "tz-journey")
    add_contact(product, key, "muon@example.com", late, "tz-journey")
    create_template(staff, "Mẫu giờ địa phương")
    campaign, review = create_campaign(
        staff, "Giờ địa phương", "Mẫu giờ địa phương", tags="tz-journey"
    )
    since = len(sink.messages)
    scheduled = staff.submit(
        review,
        f"/admin/campaigns/{campaign}/schedule",
        {"when": "later", "send_at": wall.strftime("%Y-%m-%dT%H:%M"), "recipient_zone": "y",
         "confirm": "y"},
    )  # fmt: skip
    assert "Đã lên lịch chiến dịch." in scheduled.body, scheduled.body[:3000]

    wait_until(lambda: mail_to(sink, "som@example.com", since), "mail where the time has come")
    wait_until(
        lambda: campaign_state(product, key, campaign)["reasons"].get("local_time") == 1,
        "the other recipient waits for their own time",
    )
    page = staff.get(f"/admin/campaigns/{campaign}").body
    assert f"1 người nhận đang chờ đến {wall:%H:%M} theo giờ địa phương" in page
    state = campaign_state(product, key, campaign)
    assert state["local_send_at"] == wall.strftime("%Y-%m-%dT%H:%M")
    assert state["status"] == "sending"
    assert state["counters"]["sent"] == 1 and state["counters"]["deferred"] == 1
    assert [r for m in sink.messages[since:] for r in m.rcpt_tos] == ["som@example.com"]


def test_advertising_waits_out_the_night_and_a_notice_does_not(
    product: Product, staff: Visitor, key: str, module_sink: SmtpTestServer
) -> None:
    sink = module_sink
    now = datetime.now(UTC)
    awake, asleep = day_zone(now), night_zone(now)
    add_contact(product, key, "ngay@example.com", awake, "tz-quiet")
    add_contact(product, key, "dem@example.com", asleep, "tz-quiet")
    create_template(staff, "Mẫu giờ yên lặng")
    campaign, review = create_campaign(staff, "Giờ yên lặng", "Mẫu giờ yên lặng", tags="tz-quiet")
    since = len(sink.messages)
    schedule_now(staff, campaign, review)

    wait_until(lambda: mail_to(sink, "ngay@example.com", since), "mail where it is day")
    wait_until(
        lambda: campaign_state(product, key, campaign)["reasons"].get("quiet_hours") == 1,
        "the night's recipient is held",
    )
    page = staff.get(f"/admin/campaigns/{campaign}").body
    assert "1 người nhận đang chờ hết giờ yên lặng 22:00–08:00" in page

    # A renewal notice is service mail: it goes to the sleeping recipient at once.
    _ensure_renewal_type(product, staff, key)
    notice = {"type": "renewal",
              "contact": {"external_ref": "dem@example.com", "email": "dem@example.com"},
              "data": {"service_name": "Hosting Pro", "account_ref": "KH-1",
                       "expires_on": "2027-08-15", "amount": 1250000, "currency": "VND",
                       "renew_url": "https://dcnet.vn/gia-han/KH-1", "brand": "DCNET"}}  # fmt: skip
    status, accepted = _api(product, key, "/notices", notice)
    assert status == 202, accepted
    wait_until(lambda: mail_to(sink, "dem@example.com", since), "the notice at night")
    [received] = mail_to(sink, "dem@example.com", since)
    assert not str(received["Subject"]).startswith("[QC]")
    assert sorted(r for m in sink.messages[since:] for r in m.rcpt_tos) == [
        "dem@example.com", "ngay@example.com"
    ]  # fmt: skip
