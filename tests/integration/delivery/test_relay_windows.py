"""The relays' windows and health in a real Redis: one take a batch, k <= N granted."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from notifier.delivery import relays
from notifier.infra.extensions import db
from notifier.models import Delivery, DeliveryStatus, utcnow
from tests.chaos.harness import RedisServer
from tests.conftest import configure
from tests.integration.helpers import drain, make_contact, start_campaign
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.smtp_server import SmtpTestServer


def configure_relays(app: Flask, *specs: dict, probe: float = 5.0, shared: str = "") -> None:
    configure(app, RELAYS=json.dumps(list(specs)), RELAY_PROBE_SECONDS=probe, RELAY_LIMITS=shared)


def spec(name: str, **fields: object) -> dict:
    return {"name": name, "url": f"smtp://127.0.0.1:1/{name}", **fields}


def test_a_batch_gets_what_the_window_has_left_then_waits(app: Flask, conn: redis.Redis) -> None:
    configure_relays(app, spec("a", per_second=30, per_hour=1000))
    with app.app_context():
        first = relays.take(conn, "campaign", None, 20)
        second = relays.take(conn, "campaign", None, 20)
        third = relays.take(conn, "campaign", None, 20)
        assert (first.relay and first.relay.name, first.count) == ("a", 20)
        assert (second.count, third.count) == (10, 0)
        assert third.relay is None and third.reason == "throttled:a"
        assert 0 < third.wait <= 1.05 + 0.05
        (state,) = relays.states(conn)
        assert state.counts == (30, None, 30) and state.down_for == 0
        time.sleep(third.wait)
        # The window slid past the oldest take's slot at least (the second may be in a later one).
        assert relays.take(conn, "campaign", None, 40).count >= 10
        time.sleep(1.1)
        assert relays.take(conn, "campaign", None, 40).count == 30


def test_the_hour_limits_too(app: Flask, conn: redis.Redis) -> None:
    configure_relays(app, spec("a", per_minute=5, per_hour=7))
    with app.app_context():
        assert relays.take(conn, "campaign", None, 100).count == 5
        refused = relays.take(conn, "campaign", None, 100)
        assert refused.count == 0 and 50 < refused.wait <= 63


def test_a_full_or_down_relay_is_passed_over_for_the_next(app: Flask, conn: redis.Redis) -> None:
    configure_relays(app, spec("a", weight=1000, per_second=5), spec("b", weight=1))
    with app.app_context():
        _, b = relays.relays()
        grants = [relays.take(conn, "campaign", None, 4, draw=lambda: 0.0) for _ in range(2)]
        # a has room for 1 of the second batch's 4, b for all: b takes it, whole.
        assert [(g.relay and g.relay.name, g.count) for g in grants] == [("a", 4), ("b", 4)]
        relays.mark_down(conn, b)
        # With b down, a's last one is the most room there is: a partial grant.
        partial = relays.take(conn, "campaign", None, 4, draw=lambda: 0.0)
        assert (partial.relay and partial.relay.name, partial.count) == ("a", 1)
        none = relays.take(conn, "campaign", None, 4, draw=lambda: 0.0)
        assert none.count == 0 and none.reason == "throttled:a"  # the first choice's reason
        assert 0 < none.wait <= 1.1  # a frees first
        assert relays.states(conn)[1].down_for > 4


def test_the_shared_window_holds_all_relays_together(app: Flask, conn: redis.Redis) -> None:
    configure_relays(
        app, spec("a", per_second=10), spec("b"), shared='{"per_second": 25, "per_minute": 40}'
    )
    with app.app_context():
        first = relays.take(conn, "campaign", None, 20, draw=lambda: 0.0)
        second = relays.take(conn, "campaign", None, 20, draw=lambda: 0.0)
        third = relays.take(conn, "campaign", None, 20, draw=lambda: 0.0)
        assert [(g.relay and g.relay.name, g.count) for g in (first, second, third)] == [
            ("b", 20),  # a has room for 10 of 20 (its own second), b for all (the shared 25)
            ("a", 5),  # the shared second's last 5: the first with the most room takes them
            (None, 0),
        ]
        assert third.reason == "throttled:all" and 0 < third.wait <= 1.1
        time.sleep(1.2)
        assert relays.take(conn, "campaign", None, 40, draw=lambda: 0.0).count == 15  # 40 a minute
        assert relays.take(conn, "campaign", None, 40, draw=lambda: 0.0).reason == "throttled:all"


def test_shared_limits_without_relays_are_refused_at_start_up(app: Flask) -> None:
    with pytest.raises(ValueError, match="RELAY_LIMITS: needs RELAYS"):
        configure(app, RELAY_LIMITS='{"per_second": 5}')


def test_pinned_mail_waits_for_its_relay_unless_it_has_a_fallback(
    app: Flask, conn: redis.Redis
) -> None:
    configure_relays(
        app,
        spec("bulk"),
        spec("tx", weight=0, pinned=["notice"]),
        spec("promo", weight=0, pinned=["purpose:promotions"], fallback="bulk"),
        probe=2,
    )
    with app.app_context():
        bulk, tx, promo = relays.relays()
        assert relays.take(conn, "notice", None, 1).relay == tx
        assert relays.take(conn, "system", None, 1).relay == bulk
        assert relays.take(conn, "campaign", "promotions", 9).relay == promo
        relays.mark_down(conn, tx)
        relays.mark_down(conn, promo)
        held = relays.take(conn, "notice", None, 1)
        assert (held.relay, held.reason) == (None, "relay_down:tx") and 1 < held.wait <= 2
        assert relays.take(conn, "campaign", "promotions", 9).relay == bulk


def test_a_restarted_redis_forgets_the_window_it_allows_one_window_more(
    app: Flask, tmp_path: Path
) -> None:
    """The windows are not the ledger: a lost window lets at most one more window's worth go."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        configure_relays(app, spec("a", per_minute=50))
        with app.app_context():
            conn = server.client()
            assert relays.take(conn, "campaign", None, 80).count == 50
            assert relays.take(conn, "campaign", None, 80).count == 0
            assert conn.exists(f"{relays.PREFIX}a:wper_minute")
            server.restart()
            conn = server.client()
            assert relays.take(conn, "campaign", None, 80).count == 50  # the burst: one window
            assert relays.take(conn, "campaign", None, 80).count == 0
    finally:
        server.stop()


def test_the_settings_page_and_metrics_show_each_relay_its_window_and_health_and_the_shared_one(
    app: Flask, conn: redis.Redis
) -> None:
    configure_relays(
        app,
        {"name": "bulk", "url": "smtp://mailer:s3cret-pass@10.0.0.5:25", "per_minute": 600},
        spec("tx", weight=0, pinned=["notice"], per_hour=500),
        probe=30,
        shared='{"per_minute": 1000}',
    )
    with app.app_context():
        tx = relays.relays()[1]
        assert relays.take(conn, "campaign", None, 12).count == 12
        assert relays.take(conn, "notice", None, 1).count == 1
        relays.mark_down(conn, tx)
        relays.count(conn, {"bulk": 12}, {"throttled:bulk": 3, "relay_down:tx": 1})
    client = browser(app)
    make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(client, "admin@example.com")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "s3cret-pass" not in page and "smtp://10.0.0.5:25" in page
    bulk_row = page.split('data-relay="bulk"')[1].split("</tr>")[0]
    tx_row = page.split('data-relay="tx"')[1].split("</tr>")[0]
    assert "12 / 600 /min" in bulk_row and "Hoạt động" in bulk_row  # Vietnamese by default
    assert "1 / 500 /h" in tx_row and "Không phản hồi" in tx_row and "<code>notice</code>" in tx_row
    # RELAY_LIMITS: every relay's sends in the shared window.
    shared_row = page.split('data-relay="*all"')[1].split("</tr>")[0]
    assert "13 / 1000 /min" in shared_row and "Tất cả các máy chủ" in shared_row
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'notifier_relay_sent_total{relay="bulk"} 12.0' in metrics
    assert 'notifier_relay_deferred_total{reason="throttled",relay="bulk"} 3.0' in metrics
    assert 'notifier_relay_deferred_total{reason="relay_down",relay="tx"} 1.0' in metrics


def test_a_bad_relay_list_stops_start_up_with_one_line(app: Flask) -> None:
    for value, problem in (
        ("[{", "RELAYS: not JSON"),
        ('[{"name": "a", "url": "http://x"}]', "RELAYS 'a': url: bad SMTP_URL"),
        ('[{"name": "a", "url": "smtp://u:hunter2@:25"}]', "RELAYS 'a': url: SMTP_URL has no host"),
        ('[{"name": "a", "url": "smtp://x", "per_second": -1}]', "per_second must be"),
    ):
        with pytest.raises(ValueError) as refused:
            configure(app, RELAYS=value)
        assert problem in str(refused.value) and "hunter2" not in str(refused.value)


def test_throttled_rows_wait_unfailed_and_the_campaign_page_says_why(
    app: Flask, conn: redis.Redis, smtp: SmtpTestServer
) -> None:
    # Two a minute: a send job sends two, defers the rest for about a minute and ends (it waits
    # only for retries due within seconds).
    configure_relays(app, {"name": "slow", "url": smtp.url, "per_minute": 2})
    people = [make_contact(f"p{n}@example.com", ("promotions",)) for n in range(5)]
    campaign_id = start_campaign("promotion", "promotions")
    drain(app)
    db.session.remove()
    rows = db.session.execute(
        select(Delivery.status, Delivery.reason, Delivery.attempts, Delivery.next_attempt_at).where(
            Delivery.campaign_id == campaign_id
        )
    ).all()
    assert len(rows) == len(people) and len(smtp.messages) == 2
    assert sorted(str(r.status) for r in rows) == ["deferred"] * 3 + ["sent"] * 2
    waiting = [r for r in rows if r.status == DeliveryStatus.DEFERRED]
    assert {r.reason for r in waiting} == {"throttled:slow"}
    assert {r.attempts for r in rows} == {0}  # a throttled row never costs an attempt
    assert all(r.next_attempt_at > utcnow() + timedelta(seconds=20) for r in waiting)
    client = browser(app)
    make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(client, "admin@example.com")
    page = client.get(f"/admin/campaigns/{campaign_id}/progress").get_data(as_text=True)
    assert "Đang chờ: máy chủ chuyển tiếp slow đã đạt giới hạn gửi" in page
    assert '<td class="num">3</td>' in page.split("Đang chờ")[1]
