"""Recipient-domain groups in a real Redis and at a real SMTP server: a group's limits and
connections hold its rows back (deferred, never failed), a 421/451 rests the group, longer each
time, and the relay's 4xx run is counted over all workers."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from notifier.delivery import relays, throttle
from notifier.domain.domain_groups import BACKOFF_FIRST_MS
from notifier.domain.send_outcome import SendResult, SendStatus
from notifier.infra.extensions import db
from notifier.models import Contact, Delivery, DeliveryStatus, utcnow
from tests.conftest import configure
from tests.integration.delivery.test_relay_windows import spec
from tests.integration.helpers import drain, make_contact, start_campaign
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.smtp_server import SmtpTestServer

GMAIL = [f"g{n}@gmail.com" for n in range(5)]
OTHERS = ["o1@example.com", "o2@example.vn", "y1@yahoo.com.vn"]


def configure_groups(app: Flask, groups: list[dict], *specs: dict) -> None:
    configure(
        app,
        RELAYS=json.dumps(list(specs) or [spec("a")]),
        RELAY_GROUPS=json.dumps(groups),
        RELAY_PROBE_SECONDS=5.0,
    )


def test_a_group_lets_through_its_room_of_a_batch_and_the_rest_goes_on(
    app: Flask, conn: redis.Redis
) -> None:
    configure_groups(app, [{"name": "gmail", "per_second": 3}])
    with app.app_context():
        batch = [GMAIL[0], OTHERS[0], *GMAIL[1:], *OTHERS[1:]]
        first = relays.take(conn, "campaign", None, len(batch), addresses=batch)
        assert first.relay is not None and first.count == 6
        assert [a for a, go in zip(batch, first.picked, strict=True) if not go] == GMAIL[3:]
        reason, wait = first.held["gmail"]
        assert reason == "group:gmail" and 0.4 <= wait <= 1.1  # half a window at least
        # Nobody else is held: the yahoo row is in a group without limits.
        assert set(first.held) == {"gmail"}
        second = relays.take(conn, "campaign", None, 2, addresses=GMAIL[:2])
        assert second.relay is None and second.picked == (False, False)
        assert second.held["gmail"][0] == "group:gmail"
        (gmail,) = [s for s in relays.group_states(conn) if s.group.name == "gmail"]
        assert gmail.counts == (3, None, None)
        # The relay counted only what it carried.
        assert relays.states(conn)[0].counts == (None, None, None)
        time.sleep(1.1)
        assert relays.take(conn, "campaign", None, 5, addresses=GMAIL).count == 3


def test_connection_limits_of_a_relay_and_a_group_hold_across_batches(
    app: Flask, conn: redis.Redis
) -> None:
    configure_groups(
        app,
        [{"name": "gmail", "max_connections": 1}],
        spec("a", max_connections=2),
    )
    with app.app_context():
        relay = relays.relays()[0]
        one = relays.take(conn, "campaign", None, 2, addresses=[GMAIL[0], OTHERS[0]], holder="b1")
        assert one.picked == (True, True)
        # A second batch: its gmail row waits for the one connection gmail allows.
        two = relays.take(conn, "campaign", None, 2, addresses=[GMAIL[1], OTHERS[1]], holder="b2")
        assert two.picked == (False, True) and two.held["gmail"][0] == "group:gmail"
        # A third batch: the relay's two connections are in use.
        three = relays.take(conn, "campaign", None, 1, addresses=[OTHERS[2]], holder="b3")
        assert three.relay is None and three.reason == "busy:a"
        (gmail,) = [s for s in relays.group_states(conn) if s.group.name == "gmail"]
        assert gmail.connections == 1 and relays.states(conn)[0].connections == 2
    client = browser(app)
    make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(client, "admin@example.com")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "Kết nối đang dùng: 2 / 2" in page.split('data-relay="a"')[1].split("</tr>")[0]
    assert "1 / 1" in page.split('data-group="gmail"')[1].split("</tr>")[0]
    with app.app_context():
        # The first batch ends: it gives its slots back (Watch.report), and the others go.
        watch = throttle.Watch(conn, relay, holder="b1", groups=tuple(g for g in one.groups if g))
        watch.report()
        again = relays.take(conn, "campaign", None, 1, addresses=[GMAIL[1]], holder="b3")
        assert again.picked == (True,)


def test_a_held_slot_of_a_dead_batch_frees_after_the_lease(app: Flask, conn: redis.Redis) -> None:
    configure(
        app,
        RELAYS=json.dumps([spec("a", max_connections=1)]),
        CLAIM_LEASE_SECONDS=1.0,
    )
    with app.app_context():
        assert relays.take(conn, "campaign", None, 1, addresses=[OTHERS[0]], holder="dead").count
        assert relays.take(conn, "campaign", None, 1, addresses=[OTHERS[1]], holder="x").count == 0
        time.sleep(1.1)
        assert relays.take(conn, "campaign", None, 1, addresses=[OTHERS[1]], holder="x").count == 1


def test_a_421_rests_the_group_longer_each_time_and_once_for_many_workers(
    app: Flask, conn: redis.Redis
) -> None:
    configure_groups(app, [{"name": "gmail", "per_second": 100}])
    with app.app_context():
        gmail = relays.group_index().group_of(GMAIL[0])
        assert gmail is not None
        assert relays.back_off(conn, gmail) == BACKOFF_FIRST_MS / 1000
        assert relays.back_off(conn, gmail) == 0  # already resting: another worker's 421
        resting = relays.take(conn, "campaign", None, 2, addresses=[GMAIL[0], OTHERS[0]])
        assert resting.picked == (False, True)
        reason, wait = resting.held["gmail"]
        assert reason == "backoff:gmail" and 1.0 < wait <= BACKOFF_FIRST_MS / 1000
        conn.delete(f"{relays.PREFIX}group:gmail:backoff")  # the rest is over
        assert relays.back_off(conn, gmail) == 2 * BACKOFF_FIRST_MS / 1000  # the next 421
        # A batch that reached gmail without a 421 ends the run: the next rest is the first.
        conn.delete(f"{relays.PREFIX}group:gmail:backoff")
        watch = throttle.Watch(conn, relays.relays()[0], groups=(gmail,))
        watch.unreachable(SendResult(SendStatus.SENT, 250, "ok"), GMAIL[1])
        watch.report()
        assert relays.back_off(conn, gmail) == BACKOFF_FIRST_MS / 1000


def test_the_relays_4xx_run_is_counted_over_all_workers(app: Flask, conn: redis.Redis) -> None:
    configure_groups(app, [{"name": "gmail", "per_second": 100}])
    with app.app_context():
        relay = relays.relays()[0]
        refused = SendResult(SendStatus.DEFERRED, 450, "450 try later")
        first, second = throttle.Watch(conn, relay), throttle.Watch(conn, relay)
        for _ in range(3):
            first.unreachable(refused, OTHERS[0])
        assert not first.down and not conn.exists(f"{relays.PREFIX}a:down")
        # A gmail 421 is gmail's, not the relay's: it does not count in the relay's run.
        second.unreachable(SendResult(SendStatus.DEFERRED, 421, "421 slow down"), GMAIL[0])
        second.unreachable(refused, OTHERS[1])
        assert not second.down
        second.unreachable(refused, OTHERS[1])  # the fifth over both batches
        assert second.down and conn.exists(f"{relays.PREFIX}a:down")
        # An accepted message ends the run.
        conn.delete(f"{relays.PREFIX}a:down")
        third = throttle.Watch(conn, relay)
        third.unreachable(SendResult(SendStatus.SENT, 250, "ok"), OTHERS[0])
        third.report()
        assert not conn.exists(f"{relays.PREFIX}a:streak")


@pytest.mark.parametrize(
    "reply",
    ["421 4.7.0 Try again later, closing connection", "451 4.7.0 Try again later, rate limited"],
)
def test_a_421_or_451_from_gmail_holds_gmail_back_unfailed_and_the_rest_goes_on(
    app: Flask, conn: redis.Redis, smtp: SmtpTestServer, reply: str
) -> None:
    configure_groups(app, [{"name": "gmail", "per_hour": 1000}], {"name": "a", "url": smtp.url})
    configure(app, SMTP_RETRY_SECONDS=600)  # the refused message itself waits out of the test
    order = [GMAIL[0], OTHERS[0], OTHERS[1], *GMAIL[1:], OTHERS[2]]
    for address in order:
        make_contact(address, ("promotions",))
    smtp.rcpt_replies[GMAIL[0]] = reply
    campaign_id = start_campaign("promotion", "promotions")
    drain(app)  # the rest of gmail is due after BACKOFF_FIRST_MS: the job waits for it
    db.session.remove()
    rows = {
        r.email: r
        for r in db.session.execute(
            select(
                Contact.email,
                Delivery.status,
                Delivery.attempts,
                Delivery.reason,
                Delivery.smtp_message,
            )
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Delivery.campaign_id == campaign_id)
        )
    }
    refused = rows[GMAIL[0]]
    # The message itself was tried: it waits as any 4xx does (a 421 also closed the session).
    assert (refused.status, refused.attempts) == (DeliveryStatus.DEFERRED, 1)
    assert "4.7.0 Try again later" in refused.smtp_message
    assert all(rows[a].status == DeliveryStatus.SENT for a in order[1:])
    assert all(rows[a].attempts == 0 for a in order[1:])  # held back: never an attempt
    received = [rcpt for m in smtp.messages for rcpt in m.rcpt_tos]
    assert sorted(received) == sorted(order[1:])
    held = int(conn.hget(relays.DEFERRED_KEY, "backoff:gmail") or 0)
    assert 1 <= held <= len(GMAIL) - 1  # those behind the 421 (one may already be on the wire)
    # The gmail mail after the rest went out: the group's run is over.
    assert not conn.exists(f"{relays.PREFIX}group:gmail:level")


def test_the_settings_page_shows_the_groups_and_the_campaign_page_says_why(
    app: Flask, conn: redis.Redis, smtp: SmtpTestServer
) -> None:
    configure_groups(
        app,
        [{"name": "gmail", "per_minute": 2, "max_connections": 3},
         {"name": "corp", "domains": ["corp.vn"]}],
        {"name": "a", "url": smtp.url},
    )  # fmt: skip
    for address in GMAIL:
        make_contact(address, ("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    drain(app)
    db.session.remove()
    rows = db.session.execute(
        select(Delivery.status, Delivery.reason, Delivery.attempts, Delivery.next_attempt_at)
        .where(Delivery.campaign_id == campaign_id)
    ).all()  # fmt: skip
    assert sorted(str(r.status) for r in rows) == ["deferred"] * 3 + ["sent"] * 2
    waiting = [r for r in rows if r.status == DeliveryStatus.DEFERRED]
    assert {r.reason for r in waiting} == {"group:gmail"} and {r.attempts for r in rows} == {0}
    assert all(r.next_attempt_at > utcnow() for r in waiting)
    with app.app_context():
        gmail = relays.group_index().group_of(GMAIL[0])
        assert gmail is not None
        relays.back_off(conn, gmail)
        conn.pexpire(f"{relays.PREFIX}group:gmail:backoff", 60_000)  # still resting on the page
    client = browser(app)
    make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(client, "admin@example.com")
    page = client.get(f"/admin/campaigns/{campaign_id}/progress").get_data(as_text=True)
    assert "Đang chờ: nhóm tên miền gmail đã đạt giới hạn gửi" in page
    settings = client.get("/admin/settings").get_data(as_text=True)
    gmail_row = settings.split('data-group="gmail"')[1].split("</tr>")[0]
    assert "2 / 2 /min" in gmail_row and "0 / 3" in gmail_row
    assert "<code>googlemail.com</code>" in gmail_row and "Tạm dừng sau 421/451" in gmail_row
    corp_row = settings.split('data-group="corp"')[1].split("</tr>")[0]
    assert "<code>corp.vn</code>" in corp_row
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'notifier_relay_deferred_total{reason="group",relay="gmail"} 3.0' in metrics


def test_groups_without_relays_and_bad_groups_stop_start_up(app: Flask) -> None:
    for settings, problem in (
        ({"RELAY_GROUPS": '[{"name": "gmail", "per_second": 5}]'}, "RELAY_GROUPS: needs RELAYS"),
        ({"RELAYS": json.dumps([spec("a")]), "RELAY_GROUPS": "[{"}, "RELAY_GROUPS: not JSON"),
    ):
        try:
            configure(app, **settings)
        except ValueError as refused:
            assert problem in str(refused)
        else:
            raise AssertionError(f"{settings} was accepted")


def batch_of(*addresses: str) -> SimpleNamespace:
    """What a take reads of a claim: its rows' addresses and its token."""
    rows = [SimpleNamespace(recipient=SimpleNamespace(email=a)) for a in addresses]
    return SimpleNamespace(sendable=rows, token="claim-1")


def test_a_batch_refused_by_a_full_window_waits_for_it_but_not_for_a_resting_group(
    app: Flask, conn: redis.Redis
) -> None:
    configure_groups(app, [{"name": "gmail", "per_second": 100}], spec("a", per_second=10))
    with app.app_context():
        assert relays.take(conn, "campaign", None, 10).count == 10  # the second is full
        time.sleep(0.7)  # its room frees in about 0.3 s: within the pace
        began = time.monotonic()
        answer = throttle._take(conn, None, batch_of(*OTHERS))  # type: ignore[arg-type]
        waited = time.monotonic() - began
        # Room frees within the pace (half a second's window): waited for, not deferred.
        assert answer.count == len(OTHERS) and 0.05 < waited < 0.6
        gmail = relays.group_index().group_of(GMAIL[0])
        assert gmail is not None
        relays.back_off(conn, gmail)
        began = time.monotonic()
        answer = throttle._take(conn, None, batch_of(*GMAIL))  # type: ignore[arg-type]
        # Only gmail's rest held them: the relays were not asked, nothing to wait for here.
        assert answer.count == 0 and answer.wait == 0 and time.monotonic() - began < 0.3
        assert answer.held["gmail"][0] == "backoff:gmail"
