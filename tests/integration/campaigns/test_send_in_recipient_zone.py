"""A campaign "at 09:00 local" over one day, and advertising held through the quiet hours: the
clock moved step by step, scheduler rounds and a real RQ worker at each step, and what reached
a real SMTP server counted after each one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select, update

from notifier.campaigns import lifecycle as campaigns
from notifier.infra.extensions import db
from notifier.models import Campaign, Contact, Delivery
from notifier.processes.scheduler import tick
from notifier.processes.worker import run_worker
from tests.integration.helpers import committed, drain, layout_template, make_contact, sample_data
from tests.integration.test_admin_support import browser, make_staff, post, sign_in
from tests.integration.test_api_support import issue_key, notice_body, renewal_type
from tests.smtp_server import SmtpTestServer

PROFILES = Path(__file__).resolve().parents[3] / "config" / "profiles"
# 09:00 on 28 March 2027 in each zone, in UTC. Berlin changes to summer time that night (09:00
# CEST is 07:00 UTC, not 08:00); New York is on EDT since 14 March; Kolkata is off the hour.
ZONES = {
    "nz@example.com": ("Pacific/Auckland", datetime(2027, 3, 27, 20, tzinfo=UTC)),
    "vn@example.com": ("Asia/Ho_Chi_Minh", datetime(2027, 3, 28, 2, tzinfo=UTC)),
    "in@example.com": ("Asia/Kolkata", datetime(2027, 3, 28, 3, 30, tzinfo=UTC)),
    "de@example.com": ("Europe/Berlin", datetime(2027, 3, 28, 7, tzinfo=UTC)),
    "us@example.com": ("America/New_York", datetime(2027, 3, 28, 13, tzinfo=UTC)),
}
NO_ZONE = "nozone@example.com"  # no zone of its own: the profile's, Asia/Ho_Chi_Minh
MINUTE = timedelta(minutes=1)


@pytest.fixture
def profile_name(tmp_path: Path) -> str:
    """DCNET's profile with advertising email held from 22:00 to 08:00 local."""
    text = (PROFILES / "dcnet.toml").read_text("utf-8")
    marker = 'default_time_zone = "Asia/Ho_Chi_Minh"\n'
    assert text.count(marker) == 1
    path = tmp_path / "dcnet-quiet.toml"
    path.write_text(text.replace(marker, f'{marker}quiet_hours.email = "22:00-08:00"\n'), "utf-8")
    return str(path)


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpTestServer]:
    from tests.conftest import configure

    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url)
        yield server


def received(smtp: SmtpTestServer) -> Counter[str]:
    return Counter(address for m in smtp.messages for address in m.rcpt_tos)


def draft_promotion() -> int:
    with committed():
        campaign = campaigns.create_campaign(
            campaigns.CampaignInput(
                name="Khuyến mãi 9 giờ", kind="promotion", purpose_key="promotions",
                template_id=layout_template("promotion", "promotions"),
                data=sample_data("promotion"),
            )
        )  # fmt: skip
        return campaign.id


def round_at(app: Flask, moment: datetime) -> None:
    """A scheduler round at `moment`, then a worker until the queues are empty."""
    with time_machine.travel(moment, tick=False):
        tick(moment)
        drain(app)


def page(app: Flask, campaign_id: int, moment: datetime) -> str:
    with time_machine.travel(moment, tick=False):
        client = browser(app)
        sign_in(client, "marketing@example.com")
        return client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)


def test_each_zone_is_sent_at_its_own_nine_oclock_exactly_once(
    app: Flask, smtp: SmtpTestServer
) -> None:
    for address, (zone, _) in ZONES.items():
        make_contact(address, grants=("promotions",), time_zone=zone)
    nobody = make_contact(NO_ZONE, grants=("promotions",))
    with committed():  # a contact stored before zones were kept: the column is empty
        db.session.execute(update(Contact).where(Contact.id == nobody).values(time_zone=""))
    make_staff("marketing@example.com", "marketing")
    campaign_id = draft_promotion()

    with time_machine.travel(datetime(2027, 3, 27, 12, tzinfo=UTC), tick=False):
        client = browser(app)
        sign_in(client, "marketing@example.com")
        answer = post(
            client,
            f"/admin/campaigns/{campaign_id}/schedule",
            {"when": "later", "send_at": "2027-03-28T09:00", "recipient_zone": "y",
             "confirm": "y"},
        )  # fmt: skip
        assert answer.status_code == 302
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None and campaign.status == "scheduled"
    assert campaign.local_send_at == datetime(2027, 3, 28, 9)
    # It starts when 09:00 first comes anywhere (UTC+14): 19:00 UTC the day before.
    assert campaign.send_at == datetime(2027, 3, 27, 19, tzinfo=UTC)

    due = {address: at for address, (_, at) in ZONES.items()}
    due[NO_ZONE] = ZONES["vn@example.com"][1]
    steps = sorted({at for at in due.values()} | {datetime(2027, 3, 27, 19, tzinfo=UTC)})
    for moment in steps:
        for when in (moment - MINUTE, moment):  # a minute before each moment, then on it
            round_at(app, when)
            expected = Counter({a: 1 for a, at in due.items() if at <= when})
            assert received(smtp) == expected, when
        if moment == ZONES["in@example.com"][1]:  # the campaign page, half-way through the day
            waiting = page(app, campaign_id, moment)
            assert "2 người nhận đang chờ đến 09:00" in waiting  # Berlin and New York

    round_at(app, datetime(2027, 3, 28, 23, tzinfo=UTC))  # the day after: nothing more
    assert received(smtp) == Counter({address: 1 for address in due})
    db.session.expire_all()
    statuses = db.session.scalars(select(Delivery.status))
    assert sorted(statuses) == ["sent"] * 6
    assert db.session.get(Campaign, campaign_id).status == "done"  # type: ignore[union-attr]


def test_advertising_waits_for_eight_oclock_local_and_a_notice_does_not(
    app: Flask, smtp: SmtpTestServer
) -> None:
    # 16:00 UTC: 23:00 in Ho Chi Minh City, 21:30 in Kolkata, 17:00 in Berlin.
    night_in_vietnam = datetime(2027, 3, 27, 16, tzinfo=UTC)
    for address in ("vn@example.com", "in@example.com", "de@example.com"):
        make_contact(address, grants=("promotions",), time_zone=ZONES[address][0])
    make_staff("marketing@example.com", "marketing")
    campaign_id = draft_promotion()
    renewal_type()
    with time_machine.travel(night_in_vietnam, tick=False):
        with committed():
            campaigns.schedule(campaign_id)
        notices_api = app.test_client()
        notices_api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {issue_key('notices')}"
        accepted = notices_api.post(
            "/api/v1/notices",
            json=notice_body(ref="VN-1", email="vn@example.com"),
            headers={"Idempotency-Key": "renewal-VN-1"},
        )
        assert accepted.status_code == 202, accepted.get_data(as_text=True)
    round_at(app, night_in_vietnam)
    # The renewal notice is service mail: it leaves at 23:00; the promotion waits.
    assert received(smtp) == Counter({"in@example.com": 1, "de@example.com": 1,
                                      "vn@example.com": 1})  # fmt: skip
    vietnam = [m for m in smtp.messages if m.rcpt_tos == ["vn@example.com"]]
    assert len(vietnam) == 1 and b"[QC]" not in vietnam[0].data.split(b"\r\n\r\n", 1)[0]
    shown = page(app, campaign_id, night_in_vietnam)
    assert "1 người nhận đang chờ hết giờ yên lặng 22:00–08:00" in shown

    round_at(app, datetime(2027, 3, 28, 0, 59, tzinfo=UTC))  # 07:59 in Vietnam
    assert received(smtp)["vn@example.com"] == 1
    round_at(app, datetime(2027, 3, 28, 1, tzinfo=UTC))  # 08:00
    assert received(smtp) == Counter({"in@example.com": 1, "de@example.com": 1,
                                      "vn@example.com": 2})  # fmt: skip
    round_at(app, datetime(2027, 3, 28, 12, tzinfo=UTC))
    assert sum(received(smtp).values()) == 4
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).status == "done"  # type: ignore[union-attr]


def test_a_claim_that_comes_after_the_window_opens_defers_instead_of_sending(
    app: Flask, smtp: SmtpTestServer
) -> None:
    """Planned at 21:59 in Ho Chi Minh City (every row pending), claimed at 22:01: the claim
    itself holds the row until 08:00; it is deferred, never skipped or failed."""
    make_contact("vn@example.com", grants=("promotions",), time_zone="Asia/Ho_Chi_Minh")
    campaign_id = draft_promotion()
    planned_at = datetime(2027, 3, 27, 14, 59, tzinfo=UTC)
    with time_machine.travel(planned_at, tick=False):
        with committed():
            campaigns.schedule(campaign_id)
        run_worker(app, ["campaigns"], burst=True)  # plans; the send jobs stay queued
    db.session.expire_all()
    assert db.session.scalar(select(Delivery.status)) == "pending"
    with time_machine.travel(datetime(2027, 3, 27, 15, 1, tzinfo=UTC), tick=False):
        run_worker(app, ["send"], burst=True)
    db.session.expire_all()
    held = db.session.execute(select(Delivery.status, Delivery.reason, Delivery.next_attempt_at))
    assert list(held) == [("deferred", "quiet_hours", datetime(2027, 3, 28, 1, tzinfo=UTC))]
    assert not smtp.messages
    round_at(app, datetime(2027, 3, 28, 1, tzinfo=UTC))
    assert received(smtp) == Counter({"vn@example.com": 1})
