"""Segment pages: the builder as a plain form (no JavaScript), its live count, hostile input, and
a campaign whose audience is a segment reaching exactly the matching eligible contacts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.contacts import consent_ledger as consent
from notifier.infra.clock import utcnow
from notifier.infra.extensions import db
from notifier.models import (
    Campaign,
    ConsentSource,
    Contact,
    Delivery,
    Segment,
    StaffUser,
    Subscription,
    TrackingEvent,
)
from tests.conftest import configure
from tests.integration.helpers import (
    committed,
    drain,
    layout_template,
    make_contact,
    sample_data,
)
from tests.integration.test_admin_support import browser, make_staff, post, sign_in
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url)
        yield server


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> StaffUser:
    user = make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(client, "admin@example.com")
    return user


def _people() -> None:
    make_contact("hn-vip@example.com", grants=("promotions",), tags=["vip"],
                 attributes={"city": "Hà Nội", "spend": "1200"})  # fmt: skip
    make_contact(
        "hn@example.com", grants=("promotions",), attributes={"city": "Hà Nội", "spend": "90"}
    )
    make_contact(
        "sg-big@example.com", grants=("promotions",), attributes={"city": "HCM", "spend": "5000"}
    )
    # Matches the segment but withdrew: the segment narrows, it never grants.
    gone = make_contact("hn-gone@example.com", grants=("promotions",), tags=["vip"],
                        attributes={"city": "Hà Nội", "spend": "1200"})  # fmt: skip
    consent.withdraw(gone, ["promotions"], consent.Evidence(source=ConsentSource.ONE_CLICK))
    # Matches, never agreed.
    make_contact("hn-none@example.com", tags=["vip"], attributes={"city": "Hà Nội"})


def _rows(*rows: dict[str, str], **extra: str) -> dict[str, str]:
    form = {"rows": str(len(rows)), "match": "any", "purpose_key": "promotions", **extra}
    for i, row in enumerate(rows):
        for name in ("group", "field", "key", "type", "op", "value"):
            form[f"{name}_{i}"] = row.get(name, "text" if name == "type" else "")
    return form


# (Hà Nội AND tag vip) OR (spend >= 1000 AND not in Hà Nội)
TWO_GROUPS = (
    {"group": "1", "field": "attribute", "key": "city", "op": "eq", "value": "Hà Nội"},
    {"group": "1", "field": "tag", "op": "has", "value": "vip"},
    {
        "group": "2",
        "field": "attribute",
        "key": "spend",
        "type": "number",
        "op": "ge",
        "value": "1000",
    },
    {"group": "2", "field": "attribute", "key": "city", "op": "ne", "value": "Hà Nội"},
)


def _segments() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Segment)) or 0)


def test_build_without_javascript_count_live_and_save(
    client: FlaskClient, admin: StaffUser
) -> None:
    _people()
    page = client.get("/admin/segments/new")
    assert page.status_code == 200 and 'name="rows" value="1"' in page.get_data(as_text=True)
    # "Add a condition" is a submit button: the form comes back with one more row, values kept.
    added = post(client, "/admin/segments/new",
                 {**_rows(TWO_GROUPS[0]), "name": "HN", "action": "add_row"})  # fmt: skip
    text = added.get_data(as_text=True)
    assert added.status_code == 200 and 'name="rows" value="2"' in text and "Hà Nội" in text
    removed = post(client, "/admin/segments/new", {**_rows(*TWO_GROUPS), "action": "remove_3"})
    assert 'name="rows" value="3"' in removed.get_data(as_text=True)
    live = post(client, "/admin/segments/count", _rows(*TWO_GROUPS)).get_data(as_text=True)
    # Four contacts match; two of them may receive promotions (one withdrew, one never agreed).
    assert 'data-testid="segment-total">4<' in live and 'data-testid="eligible">2<' in live
    assert "Đã rút lại đồng ý" in live and "Chưa đồng ý" in live
    named = {**_rows(*TWO_GROUPS), "name": "HN VIP or big spenders", "action": "save"}
    saved = post(client, "/admin/segments/new", named)
    assert saved.status_code == 302 and _segments() == 1
    segment = db.session.scalars(select(Segment)).one()
    assert [g["match"] for g in segment.definition["items"]] == ["all", "all"]
    listed = client.get("/admin/segments").get_data(as_text=True)
    assert "HN VIP or big spenders" in listed
    again = client.get(f"/admin/segments/{segment.id}").get_data(as_text=True)
    assert 'name="rows" value="4"' in again and 'value="1000"' in again
    english = client.get("/admin/segments?lang=en").get_data(as_text=True)
    assert "New segment" in english


def test_a_count_answered_after_the_save_keeps_the_saved_message(
    client: FlaskClient, admin: StaffUser
) -> None:
    """htmx asks the count as a person leaves a field, so clicking Save can send a count just
    before the save. Its answer arrives after the save's, which set the session cookie with the
    "saved" message; a count that wrote the session would replace that cookie with the one it was
    sent, and the message would be lost (a Chromium run of tests/browser once showed this)."""
    _people()
    client.get("/admin/segments/new")
    before = client.get_cookie("session")
    assert before is not None
    named = {**_rows(*TWO_GROUPS), "name": "HN", "action": "save"}
    saved = post(client, "/admin/segments/new", named)
    assert saved.status_code == 302
    late = browser(client.application)
    late.set_cookie("session", before.value)
    count = post(late, "/admin/segments/count", _rows(*TWO_GROUPS))
    assert 'data-testid="segment-total">4<' in count.get_data(as_text=True)
    assert count.headers.getlist("Set-Cookie") == []
    # Nor does an English page that was already English.
    english = late.get("/admin/segments?lang=en")
    assert late.get("/admin/segments").headers.getlist("Set-Cookie") == []
    assert english.status_code == 200
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Đã lưu phân khúc." in page


@pytest.mark.parametrize(
    ("rows", "extra", "problem"),
    [
        # SQL and JSON-path-looking names are not names.
        (
            [
                {
                    "group": "1",
                    "field": "attribute",
                    "key": "city') OR 1=1 --",
                    "op": "eq",
                    "value": "x",
                }
            ],
            {},
            "key",
        ),
        (
            [{"group": "1", "field": "attribute", "key": 'a."$[0]', "op": "eq", "value": "x"}],
            {},
            "key",
        ),
        ([{"group": "1", "field": "password", "op": "eq", "value": "x"}], {}, "field"),
        ([{"group": "1", "field": "email", "op": "LIKE", "value": "%"}], {}, "op"),
        (
            [
                {
                    "group": "1",
                    "field": "attribute",
                    "key": "n",
                    "type": "float",
                    "op": "eq",
                    "value": "1",
                }
            ],
            {},
            "type",
        ),
        (
            [
                {
                    "group": "1",
                    "field": "attribute",
                    "key": "n",
                    "type": "number",
                    "op": "gt",
                    "value": "1e308",
                }
            ],
            {},
            "value",
        ),
        ([{"group": "1", "field": "created_at", "op": "lt", "value": "2026-02-30"}], {}, "value"),
        (
            [{"group": "1", "field": "consent", "key": "nope", "op": "is", "value": "granted"}],
            {},
            "key",
        ),
        (
            [{"group": "1", "field": "received", "op": "received", "value": "999999"}],
            {},
            "campaign",
        ),
        ([{"group": "1", "field": "name", "op": "eq", "value": "x" * 10_000}], {}, "200"),
        ([{"group": "1", "field": "name", "op": "eq", "value": "a\x00b"}], {}, "control"),
        ([], {"match": "xor"}, "match"),
        # More rows than the limit: refused before any is read.
        ([], {"rows": "100000000"}, "40"),
    ],
)
def test_hostile_definitions_are_refused_and_nothing_is_saved(
    client: FlaskClient, admin: StaffUser, rows: list[dict[str, str]], extra: dict[str, str],
    problem: str,
) -> None:  # fmt: skip
    form = {**_rows(*rows), "name": "hostile", "action": "save", **extra}
    if not rows and "rows" not in extra:
        form.update(_rows({"group": "1", "field": "locale", "op": "eq", "value": "vi"}))
        form["match"] = extra["match"]
    response = post(client, "/admin/segments/new", form)
    assert response.status_code == 422
    assert problem in response.get_data(as_text=True)
    assert _segments() == 0


def test_huge_forms_and_sql_looking_values(client: FlaskClient, admin: StaffUser) -> None:
    """A value that looks like SQL is only text to compare; a flood of fields is refused."""
    make_contact("x@example.com", grants=("promotions",), name="x'; DROP TABLE contacts; --")
    make_contact("y@example.com", grants=("promotions",), name="Y")
    row = {"group": "1", "field": "name", "op": "eq", "value": "x'; DROP TABLE contacts; --"}
    live = post(client, "/admin/segments/count", _rows(row)).get_data(as_text=True)
    assert 'data-testid="segment-total">1<' in live
    like = {"group": "1", "field": "name", "op": "contains", "value": "%"}
    assert 'data-testid="segment-total">0<' in post(
        client, "/admin/segments/count", _rows(like)
    ).get_data(as_text=True)
    flood = {f"junk_{i}": "x" for i in range(5000)}
    response = post(
        client, "/admin/segments/new", {**_rows(row), **flood, "name": "f", "action": "save"}
    )
    assert response.status_code == 422 and _segments() == 0
    many = [dict(row, group=str(i % 3 + 1)) for i in range(41)]
    response = post(client, "/admin/segments/new", {**_rows(*many), "name": "m", "action": "save"})
    assert response.status_code == 422 and _segments() == 0
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2


def test_a_campaign_with_a_segment_sends_only_to_matching_eligible_contacts(
    app: Flask, client: FlaskClient, admin: StaffUser, smtp: SmtpTestServer
) -> None:
    _people()
    saved = post(client, "/admin/segments/new",
                 {**_rows(*TWO_GROUPS), "name": "Target", "action": "save"})  # fmt: skip
    segment_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    form: dict[str, Any] = {
        "name": "Segment campaign", "kind": "promotion", "purpose_key": "promotions",
        "template_id": str(layout_template("promotion", "promotions")), "tags": "", "locale": "",
        "time_zone": "Asia/Ho_Chi_Minh", "data": json.dumps(sample_data("promotion")),
        "segment": str(segment_id),
    }  # fmt: skip
    refused = post(client, "/admin/campaigns/new", {**form, "segment": "1 OR 1=1"})
    assert refused.status_code == 422
    created = post(client, "/admin/campaigns/new", form)
    assert created.status_code == 302
    campaign_id = int(created.headers["Location"].rsplit("/", 1)[1])
    post(client, f"/admin/campaigns/{campaign_id}/schedule", {"when": "now", "confirm": "y"})
    drain(app)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "hn-vip@example.com",
        "sg-big@example.com",
    ]


def _engagement() -> None:
    """Four people, three tracked campaigns: a person's click 3 days ago, only a scanner's click,
    a click 40 days ago, and three mails with the pixel never opened."""
    template = layout_template("promotion", "promotions")
    now = utcnow()
    with committed():
        campaigns = [
            Campaign(name=f"c{n}", kind="promotion", purpose_key="promotions",
                     template_id=template, audience={}, data={})
            for n in range(3)
        ]  # fmt: skip
        db.session.add_all(campaigns)
    people = {
        name: make_contact(f"{name}@example.com", grants=("promotions",))
        for name in ("clicker", "scanned", "lapsed", "quiet")
    }
    with committed():
        for contact_id in people.values():
            for age, campaign in zip((50, 10, 5), campaigns, strict=True):
                db.session.add(
                    Delivery(campaign_id=campaign.id, contact_id=contact_id, status="sent",
                             tracking=3, sent_at=now - timedelta(days=age))
                )  # fmt: skip
        for name, flags, age in (("clicker", 0, 3), ("scanned", 1, 3), ("lapsed", 0, 40)):
            db.session.add(
                TrackingEvent(campaign_id=campaigns[0].id, contact_id=people[name], kind="c",
                              link=1, flags=flags, at=now - timedelta(days=age))
            )  # fmt: skip


def test_engagement_conditions_count_live_and_save(client: FlaskClient, admin: StaffUser) -> None:
    _engagement()

    def total(*rows: dict[str, str]) -> str:
        return post(client, "/admin/segments/count", _rows(*rows)).get_data(as_text=True)

    clicked = {"group": "1", "field": "clicked", "op": "within", "value": "30"}
    assert 'data-testid="segment-total">1<' in total(clicked)  # not the scanner's, not 40 days
    assert 'data-testid="segment-total">2<' in total(dict(clicked, value="60"))
    assert 'data-testid="segment-total">3<' in total(dict(clicked, op="not_within"))
    # Every click was on the oldest of the three mails: one of the last three, not of the last two.
    quiet = {"group": "1", "field": "last_campaigns", "op": "none_opened", "value": "3"}
    assert 'data-testid="segment-total">2<' in total(quiet)  # quiet, and the scanner's
    assert 'data-testid="segment-total">4<' in total(dict(quiet, value="2"))
    assert 'data-testid="segment-total">0<' in total(dict(quiet, value="4"))  # only three mails
    page = post(
        client, "/admin/segments/new", {**_rows(clicked), "name": "Clicked", "action": "save"}
    )
    assert page.status_code == 302
    segment = db.session.scalars(select(Segment)).one()
    assert segment.definition["items"][0]["items"] == [
        {"field": "clicked", "op": "within", "value": "30"}
    ]
    again = client.get(f"/admin/segments/{segment.id}?lang=en").get_data(as_text=True)
    assert "Clicked a link in the last N days" in again
    assert "1 to 90" in again  # the retention, in the help


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"field": "opened", "op": "within", "value": "91"}, "tối đa 90 ngày"),
        ({"field": "clicked", "op": "not_within", "value": "366"}, "từ 1 đến 365"),
        ({"field": "opened", "op": "within", "value": "0"}, "từ 1 đến 365"),
        ({"field": "opened", "op": "within", "value": "30 OR 1=1"}, "từ 1 đến 365"),
        ({"field": "opened", "op": "within", "value": "-5"}, "từ 1 đến 365"),
        ({"field": "opened", "op": "within", "value": "1e2"}, "từ 1 đến 365"),
        ({"field": "opened", "op": "within", "value": "9" * 10_000}, "200"),
        ({"field": "opened", "op": "eq", "value": "30"}, "op"),
        ({"field": "last_campaigns", "op": "none_opened", "value": "21"}, "từ 1 đến 20"),
        ({"field": "last_campaigns", "op": "within", "value": "3"}, "op"),
        ({"field": "last_campaigns", "op": "none_opened", "value": "３"}, "từ 1 đến 20"),
    ],
)
def test_hostile_engagement_conditions_are_refused(
    client: FlaskClient, admin: StaffUser, row: dict[str, str], problem: str
) -> None:
    form = {**_rows(dict(row, group="1")), "name": "hostile", "action": "save"}
    response = post(client, "/admin/segments/new", form)
    assert response.status_code == 422
    assert problem in response.get_data(as_text=True)
    assert _segments() == 0
    live = post(client, "/admin/segments/count", _rows(dict(row, group="1")))
    assert 'data-testid="segment-total"' not in live.get_data(as_text=True)


def test_subscription_conditions_count_live_on_the_local_day(
    client: FlaskClient, admin: StaffUser
) -> None:
    """Three customers: a domain ending in 10 days, hosting that ended 3 days ago (not renewed),
    an SSL certificate renewed; the days are read in Hà Nội, as the renewal notices read them."""
    today = utcnow().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    for n, (kind, status, days) in enumerate(
        (("domain", "active", 10), ("hosting", "expired", -3), ("ssl", "renewed", 5))
    ):
        contact_id = make_contact(f"sub{n}@example.com", grants=("promotions",))
        with committed():
            db.session.add(
                Subscription(
                    source="billing", external_id=str(n), contact_id=contact_id, kind=kind,
                    name="dịch vụ", status=status, expires_on=today + timedelta(days=days),
                )
            )  # fmt: skip

    def total(**row: str) -> str:
        form = _rows({"group": "1", "field": "subscription", **row})
        return post(client, "/admin/segments/count", form).get_data(as_text=True)

    assert 'data-testid="segment-total">1<' in total(op="expires_within", value="10")
    assert 'data-testid="segment-total">0<' in total(op="expires_within", value="9")
    assert 'data-testid="segment-total">0<' in total(op="expires_within", value="30", key="ssl")
    assert 'data-testid="segment-total">1<' in total(op="expired_within", value="3")
    assert 'data-testid="segment-total">1<' in total(op="active")
    saved = post(
        client,
        "/admin/segments/new",
        {**_rows({"group": "1", "field": "subscription", "op": "expires_within", "value": "30",
                  "key": "domain"}), "name": "Sắp hết hạn tên miền", "action": "save"},
    )  # fmt: skip
    assert saved.status_code == 302
    segment = db.session.scalars(select(Segment)).one()
    assert segment.definition["items"][0]["items"] == [
        {"field": "subscription", "op": "expires_within", "key": "domain", "value": "30"}
    ]
    english = client.get(f"/admin/segments/{segment.id}?lang=en").get_data(as_text=True)
    assert "Subscription (a service held)" in english and "expires within (days)" in english
    assert '<option value="domain" selected>domain</option>' in english  # the kind, a list
    assert "any service" in english


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"op": "expires_within", "value": "0"}, "từ 1 đến 365"),
        ({"op": "expires_within", "value": "30 OR 1=1"}, "từ 1 đến 365"),
        ({"op": "expired_within", "value": "366"}, "từ 1 đến 365"),
        ({"op": "active", "key": "domain' OR '1'='1"}, "Để trống (mọi dịch vụ)"),
        ({"op": "active", "key": "DOMAIN"}, "Để trống (mọi dịch vụ)"),
        ({"op": "eq", "value": "3"}, "op"),
    ],
)
def test_hostile_subscription_conditions_are_refused(
    client: FlaskClient, admin: StaffUser, row: dict[str, str], problem: str
) -> None:
    form = {**_rows({"group": "1", "field": "subscription", **row}), "name": "x", "action": "save"}
    response = post(client, "/admin/segments/new", form)
    assert response.status_code == 422
    assert problem in response.get_data(as_text=True)
    assert _segments() == 0
