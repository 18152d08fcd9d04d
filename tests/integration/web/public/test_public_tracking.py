"""Open and click tracking through the real send path and HTTP: a contact whose consent notice
version disclosed tracking gets signed redirect links and a pixel at the SMTP server, one who
agreed to an older notice gets the plain links; forged tokens never redirect; scanner clicks and
Apple Mail Privacy Protection opens are kept out of the people's counts; erasure removes them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select

from notifier.campaigns.engagement import engagement, roll_up
from notifier.campaigns.engagement_tallies import FOLD_LAG, fold
from notifier.domain.profile import TRACK_CLICKS, TRACK_OPENS
from notifier.domain.tokens import CLICK, make_tracking_token
from notifier.infra.context import token_secret
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Campaign, Contact, Delivery
from notifier.models.tracking import TrackingDaily, TrackingEvent, TrackingPerson
from notifier.models.types import utcnow
from notifier.privacy.requests import Requester, erase_now, export_data
from tests.integration.public_helpers import tampered
from tests.integration.tracking_steps import send_tracked
from tests.smtp_server import SmtpTestServer

BASE = "https://notifier.test"
CLICK_LINK = re.compile(r'href="https://notifier\.test(/t/c/[A-Za-z0-9_-]+)"')
PIXEL = re.compile(r'src="https://notifier\.test(/t/o/[A-Za-z0-9_-]+)"')
HREF = re.compile(r'<a\b[^>]*\shref="(https?://[^"]+)"')
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
PERSON = {"User-Agent": PHONE}


@pytest.fixture
def sent(app: Flask, smtp: SmtpTestServer, tmp_path: Path) -> dict:
    return send_tracked(app, smtp, tmp_path)


def _events() -> list[tuple[int, str, int, int]]:
    db.session.expire_all()
    rows = db.session.execute(
        select(
            TrackingEvent.contact_id, TrackingEvent.kind, TrackingEvent.link, TrackingEvent.flags
        ).order_by(TrackingEvent.id)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2"


def test_the_notice_version_agreed_to_decides_whether_mail_is_tracked(sent: dict) -> None:
    an, bea = sent["mails"]["an@example.com"], sent["mails"]["bea@example.com"]
    plain = [url for url in HREF.findall(bea) if not url.startswith(BASE)]
    assert plain, "the promotion layout links somewhere"
    assert "/t/c/" not in bea and "/t/o/" not in bea  # Bea agreed to notice 1: untracked
    clicks = CLICK_LINK.findall(an)
    assert len(clicks) == len(plain)  # each of An's links is a tracked one instead
    assert not [url for url in HREF.findall(an) if not url.startswith(BASE)]
    assert len(PIXEL.findall(an)) == 1
    for mail in (an, bea):  # unsubscribe, preferences and web view links are never rewritten
        assert re.search(r'href="https://notifier\.test/u/[A-Za-z0-9_-]+"', mail)
        assert re.search(r'href="https://notifier\.test/m/[A-Za-z0-9_-]+"', mail)
    # The ledger shows it.
    tracking = dict(db.session.execute(select(Delivery.contact_id, Delivery.tracking)).all())
    assert tracking == {sent["an"]: TRACK_CLICKS | TRACK_OPENS, sent["bea"]: 0}


def test_a_click_redirects_to_the_destination_fixed_at_send_time(
    client: FlaskClient, sent: dict
) -> None:
    an, bea = sent["mails"]["an@example.com"], sent["mails"]["bea@example.com"]
    destinations = [url.replace("&amp;", "&") for url in HREF.findall(bea)]
    destinations = [url for url in destinations if not url.startswith(BASE)]
    first = CLICK_LINK.findall(an)[0]
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        response = client.get(first + "?next=https://evil.example/", headers=PERSON)
    assert response.status_code == 302
    assert response.headers["Location"] == destinations[0]
    assert "no-store" in response.headers["Cache-Control"]
    assert _events() == [(sent["an"], "c", 0, 0)]


def test_only_the_events_own_connection_commits_without_waiting_for_the_disk(
    app: Flask, client: FlaskClient, sent: dict
) -> None:
    """docs/tracking.md: an event may be lost in the last fraction of a second before a
    PostgreSQL crash, nothing else the web process writes."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    first = CLICK_LINK.findall(sent["mails"]["an@example.com"])[0]
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        assert client.get(first, headers=PERSON).status_code == 302
    events = app.extensions["notifier.tracking"].connection()
    assert events.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    assert db.session.execute(db.text("SHOW synchronous_commit")).scalar() == "on"
    with db.engine.connect() as other:  # the pool the pages and the send path use
        assert other.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    assert _events() == [(sent["an"], "c", 0, 0)]


def test_a_database_that_is_down_costs_the_event_never_the_redirect(
    app: Flask, client: FlaskClient, sent: dict
) -> None:
    """docs/tracking.md: the person still reaches the destination fixed at send time."""
    first = CLICK_LINK.findall(sent["mails"]["an@example.com"])[0]
    recorder = app.extensions["notifier.tracking"]
    recorder.close()
    working, recorder.engine = recorder.engine, create_engine(DEAD_DATABASE)  # nobody listens
    try:
        response = client.get(first, headers=PERSON)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("https://")
    finally:
        recorder.close()
        recorder.engine = working
    assert _events() == []
    assert client.get(first, headers=PERSON).status_code == 302  # back: recorded again
    assert len(_events()) == 1


def test_forged_and_altered_tokens_get_a_page_never_a_redirect(
    client: FlaskClient, sent: dict
) -> None:
    own = CLICK_LINK.findall(sent["mails"]["an@example.com"])[0].rpartition("/")[2]
    secret = token_secret()
    campaign, an, evil = sent["campaign"], sent["an"], "https://evil.example/"
    hostile = [
        "forged-" + own[7:],
        tampered(own),
        own[:-2],
        make_tracking_token(b"another secret" * 3, CLICK, campaign, an, 1, 0, evil),
        # A genuine token's layout around an attacker's URL, its MAC copied: no match.
        make_tracking_token(secret, CLICK, campaign, an, 1, 0, evil)[:-16] + own[-16:],
        "evil.example",
    ]
    for token in hostile:
        response = client.get(f"/t/c/{token}", headers=PERSON)
        assert response.status_code == 404, token
        assert "Location" not in response.headers
        assert "Liên kết không hợp lệ" in response.get_data(as_text=True)
    # A path that merges to another one is sent back to this site, never elsewhere.
    merged = client.get("/t/c/%2F%2Fevil.example", headers=PERSON)
    assert merged.headers.get("Location", "/").startswith(("/", "http://localhost/"))
    english = client.get(f"/t/c/{tampered(own)}?lang=en", headers=PERSON)
    assert english.status_code == 404 and "This link does not work" in english.get_data(
        as_text=True
    )
    assert _events() == []


def test_scanner_clicks_and_apple_opens_are_kept_out_of_the_peoples_counts(
    client: FlaskClient, sent: dict
) -> None:
    an = sent["mails"]["an@example.com"]
    first, second = CLICK_LINK.findall(an)[:2]
    (pixel,) = PIXEL.findall(an)
    # Within seconds of delivery, with an ordinary browser's agent: a prefetching scanner.
    assert client.get(first, headers=PERSON).status_code == 302
    assert client.get(second, headers={"User-Agent": "Barracuda Sentinel"}).status_code == 302
    later = time_machine.travel(utcnow() + timedelta(minutes=5), tick=True)
    with later:
        apple = client.get(pixel, headers={"User-Agent": "Mozilla/5.0"})
        assert apple.status_code == 200 and apple.mimetype == "image/gif"
        assert "no-store" in apple.headers["Cache-Control"] and len(apple.data) == 43
        assert client.get(pixel, headers=PERSON).status_code == 200
        assert client.get(second, headers=PERSON).status_code == 302
        assert client.get(second, headers=PERSON).status_code == 302
    flags = [(kind, link, flag) for _, kind, link, flag in _events()]
    assert flags == [("c", 0, 1), ("c", 1, 1), ("o", 0, 2), ("o", 0, 0), ("c", 1, 0), ("c", 1, 0)]
    counts = engagement(db.session.get(Campaign, sent["campaign"]))
    assert (counts.clicks, counts.unique_clicks, counts.machine_clicks) == (2, 1, 2)
    assert (counts.opens, counts.unique_opens, counts.machine_opens) == (1, 1, 1)
    assert counts.tracked_clicks == 1 and counts.click_rate == 1.0
    by_link = {link.index: (link.total, link.unique) for link in counts.links}
    assert by_link == {0: (0, 0), 1: (2, 1)}
    bea_links = [u.replace("&amp;", "&") for u in HREF.findall(sent["mails"]["bea@example.com"])]
    bea_links = [url for url in bea_links if not url.startswith(BASE)]
    assert [link.url for link in counts.links] == bea_links[:2]


def test_erasure_removes_the_persons_events_and_records_no_more(
    client: FlaskClient, sent: dict
) -> None:
    first = CLICK_LINK.findall(sent["mails"]["an@example.com"])[0]
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):  # no scanner's
        assert client.get(first, headers=PERSON).status_code == 302
    assert len(_events()) == 1
    with unit_of_work():  # the scheduler's fold: An is now on record as counted
        assert fold(utcnow() + timedelta(minutes=5) + FOLD_LAG * 2) == 1
    people = select(func.count()).select_from(TrackingPerson)
    assert db.session.scalar(people) == 1
    with unit_of_work():
        erase_now(sent["an"], Requester(ip=None, user_agent=None, locale="vi"), "test")
    assert _events() == [] and db.session.scalar(people) == 0
    # The link still leads where it did (the destination names nobody), but records nothing.
    assert client.get(first, headers=PERSON).status_code == 302
    assert _events() == []


def test_after_an_unsubscribe_clicks_still_redirect_but_are_not_recorded(
    client: FlaskClient, sent: dict
) -> None:
    mail = sent["mails"]["an@example.com"]
    first = CLICK_LINK.findall(mail)[0]
    unsubscribe = re.search(r'href="https://notifier\.test(/u/[A-Za-z0-9_-]+)"', mail)
    assert unsubscribe
    assert client.get(first, headers=PERSON).status_code == 302
    one_click = client.post(unsubscribe[1], data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert client.get(first, headers=PERSON).status_code == 302
    assert len(_events()) == 1


def test_old_events_are_rolled_up_by_day_and_deleted_counts_unchanged(
    client: FlaskClient, sent: dict
) -> None:
    first, second = CLICK_LINK.findall(sent["mails"]["an@example.com"])[:2]
    assert client.get(first, headers=PERSON).status_code == 302  # a scanner: at once
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        for link in (first, first, second):
            assert client.get(link, headers=PERSON).status_code == 302
    campaign = db.session.get(Campaign, sent["campaign"])
    before = engagement(campaign)
    with unit_of_work():
        assert roll_up(utcnow() + timedelta(days=30)) == 0  # within the retention period
    assert len(_events()) == 4
    with unit_of_work():
        assert roll_up(utcnow() + timedelta(days=92)) == 4
    assert _events() == []
    rows = db.session.execute(
        select(TrackingDaily.link, TrackingDaily.total, TrackingDaily.human)
    ).all()
    assert sorted(tuple(row) for row in rows) == [(0, 3, 2), (1, 1, 1)]
    after = engagement(db.session.get(Campaign, sent["campaign"]))
    assert (after.clicks, after.machine_clicks, after.links) == (
        before.clicks,
        before.machine_clicks,
        before.links,
    )
    # The tallies counted An once before the roll-up (two links, one person), and still do.
    assert (before.unique_clicks, after.unique_clicks) == (1, 1)
    assert db.session.scalar(select(func.count()).select_from(TrackingPerson)) == 0


def test_the_persons_data_export_holds_their_events(client: FlaskClient, sent: dict) -> None:
    first = CLICK_LINK.findall(sent["mails"]["an@example.com"])[0]
    assert client.get(first, headers=PERSON).status_code == 302
    exported = export_data(db.session.get(Contact, sent["an"]))
    assert [(e["kind"], e["link"], e["machine"]) for e in exported["engagement"]] == [
        ("click", 0, True)  # within seconds of delivery: flagged as a machine's
    ]
    assert [d["tracked"] for d in exported["deliveries"]] == [True]
    bea = export_data(db.session.get(Contact, sent["bea"]))
    assert bea["engagement"] == [] and [d["tracked"] for d in bea["deliveries"]] == [False]
