"""Warm-up plans (docs/relays.md): a relay's daily allowance, counted in a real Redis by the local
day of the profile's zone (Asia/Ho_Chi_Minh, UTC+7: its midnight is 17:00 UTC), the clock moved
across midnights with time_machine (Redis's own clock is not moved: the day key is read on the
worker's clock, the Lua script's slots on Redis's)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis
import time_machine
from flask import Flask
from sqlalchemy import select

from notifier.delivery import relays, system_mail
from notifier.infra.config import ConfigError, build_settings
from notifier.infra.extensions import db
from notifier.models import Delivery, DeliveryStatus, Notice, SystemMail, SystemMailKind
from notifier.notices import notices
from notifier.processes.scheduler import tick
from tests.conftest import configure
from tests.integration.helpers import (
    committed,
    drain,
    layout_template,
    make_contact,
    sample_data,
    start_campaign,
)
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.smtp_server import SmtpTestServer

DAY_ONE = date(2027, 3, 10)


def local(day: date, hour: int, minute: int = 0, second: float = 0) -> datetime:
    """A wall-clock time in Hanoi (UTC+7, no daylight saving), as an aware UTC moment."""
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    return moment - timedelta(hours=7) + timedelta(seconds=second)


def midnight_after(day: date) -> datetime:
    return local(day + timedelta(days=1), 0)


def plan(name: str, url: str, daily: list[int], start: date = DAY_ONE, **fields: object) -> dict:
    return {
        "name": name,
        "url": url,
        "warmup": {"start": start.isoformat(), "daily": daily},
        **fields,
    }


def test_a_take_gets_the_days_allowance_then_waits_for_local_midnight(
    app: Flask, conn: redis.Redis
) -> None:
    configure(app, RELAYS=json.dumps([plan("a", "smtp://127.0.0.1:1", [3, 5])]))
    with app.app_context():
        with time_machine.travel(local(DAY_ONE, 23, 0), tick=True):
            first = relays.take(conn, "campaign", None, 2)
            partial = relays.take(conn, "campaign", None, 5)
            refused = relays.take(conn, "campaign", None, 5)
            assert (first.count, partial.count, refused.count) == (2, 1, 0)
            # The rest of a partial take: only the day's allowance can have held it.
            assert partial.reason == "warmup:a" and partial.pace == 0
            assert 3599 < partial.wait <= 3602  # no other relay: it waits for midnight too
            assert refused.relay is None and refused.reason == "warmup:a"
            # Until the next local midnight (an hour away), not the script's ~2-day window.
            assert 3599 < refused.wait <= 3602 and refused.pace == 0
            key = f"{relays.PREFIX}a:warmup:20270310"
            assert conn.exists(key) and 0 < conn.pttl(key) <= 4 * 86_400_000
        with time_machine.travel(local(DAY_ONE, 23, 59, 59.5), tick=True):
            late = relays.take(conn, "campaign", None, 5)
            assert late.count == 0 and late.reason == "warmup:a" and late.wait <= 1.6
        # 00:00 in Hanoi is 17:00 UTC: the second day's key, its count from 0, its allowance 5.
        with time_machine.travel(local(DAY_ONE + timedelta(days=1), 0, 0), tick=True):
            assert relays.take(conn, "campaign", None, 100).count == 5
            assert relays.take(conn, "campaign", None, 100).reason == "warmup:a"
        with time_machine.travel(local(DAY_ONE + timedelta(days=2), 0, 0, 1), tick=True):
            assert relays.take(conn, "campaign", None, 1000).count == 1000  # the plan has ended
            assert relays.take(conn, "campaign", None, 1000).count == 1000
        # Before the start day: the first day's allowance.
        with time_machine.travel(local(DAY_ONE - timedelta(days=4), 12, 0), tick=True):
            assert relays.take(conn, "campaign", None, 10).count == 3


def test_a_used_up_relay_is_passed_over_and_its_own_windows_still_hold(
    app: Flask, conn: redis.Redis
) -> None:
    specs = [
        plan("warm", "smtp://127.0.0.1:1/w", [4], weight=1000, per_second=3),
        {"name": "old", "url": "smtp://127.0.0.1:1/o", "weight": 1},
    ]
    configure(app, RELAYS=json.dumps(specs))
    with app.app_context(), time_machine.travel(local(DAY_ONE, 9, 0), tick=True):
        # Its own second (3) first, the day's 4 next; a batch it has no room for goes to old.
        grants = [relays.take(conn, "campaign", None, n, draw=lambda: 0.0) for n in (3, 10)]
        assert [(g.relay and g.relay.name, g.count) for g in grants] == [("warm", 3), ("old", 10)]
        assert grants[0].reason == "" and grants[0].pace == 0.5
        # Once the second frees, one more of the day's allowance; then the day is used up.
        deadline = datetime.now(UTC) + timedelta(seconds=3)
        while relays.take(conn, "campaign", None, 1, draw=lambda: 0.0).relay != relays.relays()[0]:
            assert datetime.now(UTC) < deadline
        after = relays.take(conn, "campaign", None, 10, draw=lambda: 0.0)
        assert (after.relay and after.relay.name, after.count) == ("old", 10)
        # Pinned to it alone, the mail waits for the next local midnight, named warmup:warm.
        configure(app, RELAYS=json.dumps([{**specs[0], "pinned": ["notice"]}, specs[1]]))
        held = relays.take(conn, "notice", None, 1)
        assert (held.relay, held.reason) == (None, "warmup:warm")
        assert abs(held.wait - (midnight_after(DAY_ONE) - datetime.now(UTC)).total_seconds()) < 2


def test_a_plan_of_3_then_5_carries_3_then_5_then_everyone_each_once(
    app: Flask, conn: redis.Redis
) -> None:
    with SmtpTestServer() as smtp:
        configure(app, RELAYS=json.dumps([plan("warm", smtp.url, [3, 5])]))
        people = {f"p{n}@example.com" for n in range(12)}
        with time_machine.travel(local(DAY_ONE, 10, 0), tick=True):
            for email in sorted(people):
                make_contact(email, ("promotions",))
            campaign_id = start_campaign("promotion", "promotions")
            drain(app)
            waiting = ledger(campaign_id)
            assert len(smtp.messages) == 3
            assert Counter(r.status for r in waiting) == {
                DeliveryStatus.SENT: 3,
                DeliveryStatus.DEFERRED: 9,
            }
            deferred = [r for r in waiting if r.status == DeliveryStatus.DEFERRED]
            assert {r.reason for r in deferred} == {"warmup:warm"}
            assert {r.attempts for r in waiting} == {0}  # no attempt counted, none failed
            # Back at the next local midnight (the second after it), not sooner, not later.
            midnight = midnight_after(DAY_ONE)
            assert all(midnight <= r.next_attempt_at <= midnight + timedelta(seconds=2)
                       for r in deferred)  # fmt: skip
            # The campaign page names the reason in Vietnamese (the default locale).
            client = browser(app)
            make_staff("admin@example.com", "admin", "Quản trị")
            sign_in(client, "admin@example.com")
            page = client.get(f"/admin/campaigns/{campaign_id}/progress").get_data(as_text=True)
            assert "máy chủ chuyển tiếp warm đã gửi hết hạn mức làm nóng hôm nay" in page
            assert '<td class="num">9</td>' in page.split("hạn mức làm nóng")[1]
            # The settings page: the plan's day, today's count and allowance.
            settings_page = client.get("/admin/settings").get_data(as_text=True)
            row = settings_page.split('data-relay="warm"')[1].split("</tr>")[0]
            assert "Làm nóng: ngày 1/2, hôm nay 3 / 3" in row
            metrics = client.get("/metrics").get_data(as_text=True)
            assert 'notifier_relay_deferred_total{reason="warmup",relay="warm"}' in metrics
            assert 'notifier_relay_sent_total{relay="warm"} 3.0' in metrics
        with time_machine.travel(local(DAY_ONE, 23, 59, 50), tick=True):
            run_due(app)  # nothing is due before midnight
            assert len(smtp.messages) == 3
        with time_machine.travel(midnight_after(DAY_ONE) + timedelta(seconds=5), tick=True):
            run_due(app)
            waiting = ledger(campaign_id)
            assert len(smtp.messages) == 8
            assert Counter(r.status for r in waiting) == {
                DeliveryStatus.SENT: 8,
                DeliveryStatus.DEFERRED: 4,
            }
            assert {r.reason for r in waiting if r.status == DeliveryStatus.DEFERRED} == {
                "warmup:warm"
            }
            row = browser_page(app, "/admin/settings").split('data-relay="warm"')[1]
            assert "Làm nóng: ngày 2/2, hôm nay 5 / 5" in row.split("</tr>")[0]
        with time_machine.travel(midnight_after(DAY_ONE + timedelta(days=1)) + timedelta(seconds=5),
                                 tick=True):  # fmt: skip
            run_due(app)
            waiting = ledger(campaign_id)
            assert Counter(r.status for r in waiting) == {DeliveryStatus.SENT: 12}
            assert {r.attempts for r in waiting} == {0}
            row = browser_page(app, "/admin/settings").split('data-relay="warm"')[1]
            assert "Đã làm nóng xong (2 ngày)" in row.split("</tr>")[0]
        received = Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)
        assert received == dict.fromkeys(people, 1)


def ledger(campaign_id: int) -> list:
    db.session.remove()
    return list(
        db.session.execute(
            select(
                Delivery.status, Delivery.reason, Delivery.attempts, Delivery.next_attempt_at
            ).where(Delivery.campaign_id == campaign_id)
        ).all()
    )


def run_due(app: Flask) -> None:
    """A scheduler round (it enqueues the senders of rows now due), then a worker until idle."""
    with app.app_context():
        tick(datetime.now(UTC))
    drain(app)


def browser_page(app: Flask, path: str) -> str:
    client = browser(app)
    sign_in(client, "admin@example.com")
    return client.get(path).get_data(as_text=True)


@pytest.mark.parametrize(
    ("plan_json", "problem"),
    [
        ('{"start": "2027-02-30", "daily": [500]}', "RELAYS 'a': warmup.start must be a date"),
        ('{"start": "2027-03-10", "daily": []}', "RELAYS 'a': warmup.daily must be a list"),
        ('{"start": "2027-03-10", "daily": [500, "1000"]}', "RELAYS 'a': warmup.daily must hold"),
        ('{"start": "2027-03-10", "daily": [true]}', "RELAYS 'a': warmup.daily must hold"),
        ('{"start": "2027-03-10", "daily": [0]}', "RELAYS 'a': warmup.daily must hold"),
        ('{"start": "2027-03-10", "daily": [10000001]}', "RELAYS 'a': warmup.daily must hold"),
        ('{"start": "2027-03-10", "daily": [1], "days": 3}', "RELAYS 'a': warmup has an unknown"),
        ('"2027-03-10"', "RELAYS 'a': warmup must be an object"),
    ],
)
def test_a_bad_plan_stops_start_up_with_one_line(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan_json: str, problem: str
) -> None:
    value = f'[{{"name": "a", "url": "smtp://u:hunter2@relay.example:25", "warmup": {plan_json}}}]'
    with pytest.raises(ValueError) as refused:
        configure(app, RELAYS=value)
    assert problem in str(refused.value) and "hunter2" not in str(refused.value)
    # The same through the settings loader, from the environment, as `notifier` starts.
    monkeypatch.setenv("NOTIFIER_RELAYS", value)
    with pytest.raises(ConfigError) as stopped:
        build_settings(tmp_path / "instance", {"TESTING": True})
    message = str(stopped.value)
    assert problem in message and "\n" not in message and "hunter2" not in message


def test_notices_and_system_mail_held_by_a_used_up_day_wait_for_midnight_and_never_fail(
    app: Flask, conn: redis.Redis
) -> None:
    """Service mail pinned to a warming relay: what the day's allowance holds back waits,
    queued with no attempt counted (one attempt would fail it here: SEND_RETRY_LIMIT=1), until
    the next local midnight, and then leaves once."""
    with SmtpTestServer() as smtp:
        relay = plan("warm", smtp.url, [2, 5], weight=0, pinned=["notice", "system"])
        bulk = {"name": "bulk", "url": "smtp://127.0.0.1:1/bulk"}
        configure(app, RELAYS=json.dumps([relay, bulk]), SEND_RETRY_LIMIT=1)
        with time_machine.travel(local(DAY_ONE, 10, 0), tick=True):
            notices.define_notice_type(
                "renewal", "Gia hạn", "renewal", layout_template("renewal", "renewal")
            )
            people = [make_contact(f"r{n}@notices.example.org", name=f"Công ty {n}")
                      for n in range(3)]  # fmt: skip
            db.session.commit()
            for number, person in enumerate(people):
                body = sample_data("renewal")
                with committed():
                    notices.trigger("renewal", person, body, f"warm-{number}",
                                    notices.request_fingerprint(body))  # fmt: skip
            with committed():
                data = {"link": "https://notifier.test/p/warm", "received_at": "2027-03-10"}
                system_mail.queue_mail(
                    SystemMailKind.PREFERENCES_LINK, "someone@pages.example.org", "vi", data
                )
            drain(app)
            assert len(smtp.messages) == 2
            waiting = service_mail()
            assert Counter(status for status, *_ in waiting) == {"sent": 2, "queued": 2}
            held = [row for row in waiting if row[0] == "queued"]
            assert {reason for _, reason, _, _ in held} == {"warmup:warm"}
            assert {attempts for _, _, attempts, _ in waiting} == {0}
            midnight = midnight_after(DAY_ONE)
            assert all(midnight <= due <= midnight + timedelta(seconds=3) for *_, due in held)
        with time_machine.travel(local(DAY_ONE, 23, 59, 50), tick=True):
            run_due(app)  # nothing is due before midnight
            assert len(smtp.messages) == 2
        with time_machine.travel(midnight + timedelta(seconds=5), tick=True):
            # Two rounds: a round enqueues system mail only once the notices' queue is empty.
            run_due(app)
            run_due(app)
            assert Counter(status for status, *_ in service_mail()) == {"sent": 4}
        received = Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)
        everyone = [*(f"r{n}@notices.example.org" for n in range(3)), "someone@pages.example.org"]
        assert received == dict.fromkeys(everyone, 1)


def service_mail() -> list[tuple[str, str | None, int, datetime | None]]:
    """(status, reason, attempts, next try) of each notice and system mail."""
    db.session.remove()
    rows = [*db.session.execute(select(Notice.status, Notice.reason, Notice.attempts,
                                       Notice.next_attempt_at)),
            *db.session.execute(select(SystemMail.status, SystemMail.error, SystemMail.attempts,
                                       SystemMail.next_attempt_at))]  # fmt: skip
    return [(str(status), reason, attempts, due) for status, reason, attempts, due in rows]
