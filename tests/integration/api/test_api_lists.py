"""The API's lists and layout operations: contacts (search, cursor, erase), suppressions,
a campaign's report, templates and notice types from the built-in layouts; with the attacks a
client could try (wrong scope, forged or moved cursors, oversized pages, injection in search)."""

from __future__ import annotations

import email
import email.policy
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import AuditEntry, Contact, Delivery, Suppression, SystemMail
from notifier.notices.types import sync_notice_types
from tests.integration import test_api_support as support
from tests.integration.helpers import committed, drain, make_contact, start_campaign
from tests.integration.test_api_support import RENEWAL_DATA, bearer, conforms, issue_key
from tests.smtp_server import SmtpTestServer

api, key, smtp = support.api, support.key, support.smtp  # fixtures
live_server = support.live_server


def _contacts(count: int, **fields: object) -> list[int]:
    return [
        make_contact(
            f"khach{i}@example.com", external_ref=f"KH-{i:03}", name=f"Khách {i}", **fields
        )
        for i in range(count)
    ]


def _all_pages(api: FlaskClient, url: str, path: str) -> list[dict]:
    """Every item of a list, one item a page, following next_cursor to the end."""
    seen: list[dict] = []
    params: dict[str, object] = {"limit": 1}
    while True:
        page = conforms(api.get(url, query_string=params), "get", path)
        seen += page["items"]
        if page["next_cursor"] is None:
            return seen
        params["cursor"] = page["next_cursor"]


def test_contacts_page_by_cursor_and_inserts_never_repeat_a_contact(
    app: Flask, api: FlaskClient
) -> None:
    _contacts(5)
    first = conforms(api.get("/api/v1/contacts?limit=2"), "get", "/contacts")
    assert [c["external_ref"] for c in first["items"]] == ["KH-000", "KH-001"]
    make_contact("moi@example.com", external_ref="KH-NEW")  # arrives while the CRM pages
    refs = [c["external_ref"] for c in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = conforms(
            api.get("/api/v1/contacts", query_string={"limit": 2, "cursor": cursor}),
            "get",
            "/contacts",
        )
        refs += [c["external_ref"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert refs == ["KH-000", "KH-001", "KH-002", "KH-003", "KH-004", "KH-NEW"]
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "contacts.list")
    ).first()
    assert entry is not None and entry.actor.startswith("api:")


def test_search_by_text_tag_and_locale(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="A", name="Nguyễn Văn An", tags=["vip"])
    make_contact("binh@example.com", external_ref="B", name="Trần Bình", locale="en")
    make_contact("chi_100%@example.com", external_ref="C", name="Chi", tags=["vip"])

    def refs(**params: object) -> list[str]:
        page = conforms(api.get("/api/v1/contacts", query_string=params), "get", "/contacts")
        return [c["external_ref"] for c in page["items"]]

    assert refs(q="VĂN") == ["A"]
    assert refs(q="example") == ["A", "B", "C"]
    assert refs(tag="VIP") == ["A", "C"]
    assert refs(locale="en") == ["B"]
    # LIKE wildcards and SQL are plain text to the search, never a pattern or a statement.
    assert refs(q="%") == ["C"]
    assert refs(q="_1") == ["C"]
    assert refs(q="' OR '1'='1") == []
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 3


def test_tampered_moved_and_oversized_cursors_are_refused(app: Flask, api: FlaskClient) -> None:
    _contacts(3)
    cursor = api.get("/api/v1/contacts?limit=1").get_json()["next_cursor"]
    forged = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in (forged, "eyJhIjoxfQ", "x" * 401, "a b"):
        answer = api.get("/api/v1/contacts", query_string={"cursor": bad})
        problem = conforms(answer, "get", "/contacts")
        assert answer.status_code == 422 and problem["errors"][0]["field"] == "cursor"
    moved = api.get("/api/v1/contacts", query_string={"cursor": cursor, "locale": "en"})
    assert moved.status_code == 422 and "other filters" in moved.get_json()["errors"][0]["detail"]
    other_list = api.get("/api/v1/suppressions", query_string={"cursor": cursor})
    assert other_list.status_code == 422
    for limit in ("0", "201", "-1", "1e3", " 5", "5.5"):
        answer = api.get("/api/v1/contacts", query_string={"limit": limit})
        assert answer.status_code == 422, limit
        assert answer.get_json()["errors"][0]["field"] == "limit"
    assert api.get("/api/v1/contacts?limit=2&limit=3").status_code == 422
    assert api.get("/api/v1/contacts?colour=red").status_code == 422


def test_wrong_scope_is_refused_everywhere(app: Flask, client: FlaskClient) -> None:
    notices_only = bearer(issue_key("notices"))
    for method, url in (
        ("get", "/api/v1/contacts"),
        ("delete", "/api/v1/contacts/KH-000"),
        ("get", "/api/v1/suppressions"),
        ("post", "/api/v1/suppressions"),
        ("delete", "/api/v1/suppressions/1"),
        ("get", "/api/v1/campaigns/1/report"),
        ("get", "/api/v1/templates"),
        ("post", "/api/v1/templates/from-layout"),
        ("post", "/api/v1/notice-types/from-layout"),
    ):
        answer = getattr(client, method)(url, headers=notices_only, json={})
        assert answer.status_code == 403, url
    assert client.get("/api/v1/contacts").status_code == 401


def test_erase_is_the_privacy_erasure(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001", name="An")
    answer = api.delete("/api/v1/contacts/KH-001")
    erased = conforms(answer, "delete", "/contacts/{external_ref}")
    assert answer.status_code == 200 and erased["erased"] is True
    contact = db.session.scalar(select(Contact))
    assert contact is not None and contact.erased_at is not None and contact.email is None
    suppression = db.session.scalar(select(Suppression))
    assert suppression is not None and suppression.reason == "erased"
    audit = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.erase"))
    assert audit is not None and audit.actor.startswith("api:")
    mails = db.session.scalars(select(SystemMail)).all()  # the request's acknowledgement
    assert mails and all(m.status == "cancelled" and m.to_address is None for m in mails)
    assert api.delete("/api/v1/contacts/KH-001").status_code == 404
    assert api.get("/api/v1/contacts/KH-001").status_code == 404
    assert conforms(api.get("/api/v1/contacts"), "get", "/contacts")["items"] == []
    # The erased person's suppression is what keeps them unmailed: it cannot be lifted.
    lifted = api.delete(f"/api/v1/suppressions/{suppression.id}")
    assert lifted.status_code == 409


def test_suppressions_add_list_and_remove_with_audit(app: Flask, api: FlaskClient) -> None:
    body = {"email": "An@Example.com", "scope": "promotions", "reason": "manual", "note": "CRM"}
    made = api.post("/api/v1/suppressions", json=body)
    added = conforms(made, "post", "/suppressions")
    assert made.status_code == 201 and added["scope"] == "promotions" and added["source"] == "api"
    again = api.post("/api/v1/suppressions", json={**body, "email": "an@example.com"})
    assert again.status_code == 200 and again.get_json()["id"] == added["id"]
    api.post("/api/v1/suppressions", json={**body, "scope": "all"})
    listed = _all_pages(api, "/api/v1/suppressions", "/suppressions")
    assert [s["scope"] for s in listed] == ["promotions", "all"]
    stored = db.session.get(Suppression, added["id"])
    assert stored is not None and "example" not in stored.address_hash  # a keyed hash only
    for bad in (
        {**body, "scope": "lottery"},
        {**body, "reason": "erased"},
        {**body, "email": "an@localhost"},
        {**body, "note": "a\x00b"},
    ):
        answer = api.post("/api/v1/suppressions", json=bad)
        assert answer.status_code in (400, 422), bad
    removed = api.delete(f"/api/v1/suppressions/{added['id']}")
    assert conforms(removed, "delete", "/suppressions/{suppression_id}")["id"] == added["id"]
    assert api.delete(f"/api/v1/suppressions/{added['id']}").status_code == 404
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "suppression.remove"))
    assert entry is not None and entry.details["scope"] == "promotions"


def test_a_campaign_report_lists_each_delivery_with_its_failure(
    app: Flask, api: FlaskClient, smtp: object
) -> None:
    for i in range(3):
        make_contact(f"k{i}@example.com", grants=("promotions",), external_ref=f"R{i}")
    make_contact("none@example.com", external_ref="R-NONE")  # never consented: skipped
    campaign_id = start_campaign("promotion", "promotions")
    drain(app)
    report = conforms(
        api.get(f"/api/v1/campaigns/{campaign_id}/report?limit=2"),
        "get",
        "/campaigns/{campaign_id}/report",
    )
    assert report["counters"] == {"sent": 3} or report["counters"].get("sent") == 3
    rows = report["items"]
    while report["next_cursor"]:
        report = api.get(
            f"/api/v1/campaigns/{campaign_id}/report",
            query_string={"limit": 2, "cursor": report["next_cursor"]},
        ).get_json()
        rows += report["items"]
    total = db.session.scalar(select(func.count()).select_from(Delivery))
    assert len(rows) == total and {r["status"] for r in rows} <= {"sent", "skipped"}
    assert all(r["sent_at"] for r in rows if r["status"] == "sent")
    sent_only = api.get(f"/api/v1/campaigns/{campaign_id}/report?status=sent").get_json()
    assert {r["status"] for r in sent_only["items"]} == {"sent"}
    cursor = api.get(f"/api/v1/campaigns/{campaign_id}/report?limit=1").get_json()["next_cursor"]
    other = api.get(f"/api/v1/campaigns/{campaign_id + 1}/report", query_string={"cursor": cursor})
    assert other.status_code in (404, 422)
    assert api.get("/api/v1/campaigns/999/report").status_code == 404


def test_templates_list_and_copy_a_layout_with_its_sample(app: Flask, api: FlaskClient) -> None:
    made = api.post(
        "/api/v1/templates/from-layout",
        json={"layout": "event", "name": "Hội thảo", "purpose": "events"},
    )
    copied = conforms(made, "post", "/templates/from-layout")
    assert made.status_code == 201 and copied["template"]["kind"] == "event"
    assert isinstance(copied["sample_data"]["vi"]["agenda"], list)
    assert set(copied["template"]["variants"]) == {"en"}
    wrong = api.post(
        "/api/v1/templates/from-layout",
        json={"layout": "renewal", "name": "x", "purpose": "promotions"},
    )
    assert wrong.status_code == 422 and wrong.get_json()["errors"][0]["field"] == "purpose"
    listed = _all_pages(api, "/api/v1/templates", "/templates")
    ids = [t["id"] for t in listed]
    assert ids == sorted(set(ids)) and ids[-1] == copied["template"]["id"]


def test_a_fresh_install_has_a_working_renewal_notice_type(
    app: Flask, api: FlaskClient, smtp: object
) -> None:
    with committed():
        sync_notice_types(profile())  # what `notifier setup` does
    types = api.get("/api/v1/notice-types").get_json()["items"]
    assert "renewal" in {t["key"] for t in types}
    detail = conforms(api.get("/api/v1/notice-types/renewal"), "get", "/notice-types/{key}")
    assert set(detail["data_fields"]) <= set(RENEWAL_DATA)
    assert api.get("/api/v1/notice-types/nope").status_code == 404
    answer = api.post(
        "/api/v1/notices",
        json=support.notice_body(),
        headers={"Idempotency-Key": "renewal-KH-001-2026-08"},
    )
    assert answer.status_code == 202, answer.get_json()
    drain(app)
    assert api.get(answer.get_json()["status_url"].removeprefix("")).get_json()["status"] == "sent"


def test_notice_type_from_the_renewal_layout(app: Flask, api: FlaskClient) -> None:
    body = {"key": "renewal_7d", "name": "Gia hạn 7 ngày", "purpose": "renewal"}
    made = api.post("/api/v1/notice-types/from-layout", json=body)
    created = conforms(made, "post", "/notice-types/from-layout")
    assert made.status_code == 201
    assert set(created["notice_type"]["data_fields"]) <= set(created["sample_data"]["vi"])
    assert api.post("/api/v1/notice-types/from-layout", json=body).status_code == 409
    for bad in (
        {**body, "key": "x2", "layout": "promotion"},
        {**body, "key": "x3", "purpose": "promotions"},
        {**body, "key": "Bad Key"},
    ):
        assert api.post("/api/v1/notice-types/from-layout", json=bad).status_code == 422, bad
    notice = api.post(
        "/api/v1/notices",
        json={**support.notice_body(), "type": "renewal_7d", "data": RENEWAL_DATA},
        headers={"Idempotency-Key": "k-7d"},
    )
    assert notice.status_code == 202, notice.get_json()


def test_the_event_layout_sample_with_its_agenda_is_sent_through_the_api(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    make_contact("an@example.com", grants=("events",), external_ref="KH-001")
    copied = api.post(
        "/api/v1/templates/from-layout",
        json={"layout": "event", "name": "Hội thảo", "purpose": "events"},
    ).get_json()
    data = copied["sample_data"]["vi"]
    made = api.post(
        "/api/v1/campaigns",
        json={"name": "Hội thảo", "kind": "event", "purpose": "events",
              "template_id": copied["template"]["id"], "data": data},
    )  # fmt: skip
    assert made.status_code == 201, made.get_json()
    scheduled = api.post(f"/api/v1/campaigns/{made.get_json()['id']}/schedule")
    assert scheduled.status_code == 200, scheduled.get_json()
    drain(app)
    [message] = smtp.messages
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    text = parsed.get_body(("plain",))
    assert text is not None and data["agenda"][1]["title"] in text.get_content()


def test_nested_data_beyond_its_limits_is_refused_with_its_path(
    app: Flask, api: FlaskClient
) -> None:
    template_id = api.post(
        "/api/v1/templates/from-layout",
        json={"layout": "event", "name": "x", "purpose": "events"},
    ).get_json()["template"]["id"]
    body = {"name": "x", "kind": "event", "purpose": "events", "template_id": template_id}
    for data, path in (
        ({"a": [[[["too deep"]]]]}, "a[0][0]"),
        ({"a": list(range(101))}, "a: 100 items"),
        ({"a": {f"k{i}": 1 for i in range(51)}}, "a: 50 keys"),
        ({"a": [{"bad key": 1}]}, "a[0]: key"),
        ({"a": [{"t": "line\nbreak"}]}, "a[0].t"),
        ({"a": [{"t": "x" * 501}]}, "a[0].t"),
    ):
        answer = api.post("/api/v1/campaigns", json={**body, "data": data})
        problem = conforms(answer, "post", "/campaigns")
        assert answer.status_code == 422, data
        assert problem["errors"][0]["field"] == "data"
        assert problem["errors"][0]["detail"].startswith(path), problem


def test_one_address_suppressed_by_racing_clients_is_one_suppression(
    app: Flask, key: str, live_server: str
) -> None:
    body = json.dumps({"email": "an@example.com", "scope": "all", "reason": "complaint"})

    def post() -> int:
        request = urllib.request.Request(
            f"{live_server}/api/v1/suppressions",
            data=body.encode(),
            headers={**bearer(key), "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: post(), range(6)))
    assert sorted(codes) == [200] * 5 + [201]
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1


def test_a_notice_types_texts_change_and_its_data_fields_follow(
    app: Flask, api: FlaskClient
) -> None:
    body = {"key": "renewal_7d", "name": "Gia hạn 7 ngày", "purpose": "renewal"}
    created = api.post("/api/v1/notice-types/from-layout", json=body).get_json()
    vi = created["sample_data"]["vi"]
    url, path = "/api/v1/notice-types/renewal_7d/template", "/notice-types/{key}/template"
    texts = {
        "subject": "Gia hạn {{ service_name }} - gói {{ plan }}",
        "body_mjml": created["notice_type"]["body_mjml"],
        "text": "{{ service_name }} {{ plan }} {{ expires_on | date }}",
    }
    refused = api.put(url, json=texts)  # the renewal sample has no `plan`
    problem = conforms(refused, "put", path)
    assert refused.status_code == 422 and problem["errors"][0]["field"] == "subject"
    saved = api.put(url, json={**texts, "sample_data": {"vi": {**vi, "plan": "Pro"}}})
    detail = conforms(saved, "put", path)
    assert saved.status_code == 200 and "plan" in detail["data_fields"]
    assert detail["subject"] == texts["subject"]
    notice = api.post(
        "/api/v1/notices",
        json={**support.notice_body(), "type": "renewal_7d"},
        headers={"Idempotency-Key": "k-plan"},
    )
    assert notice.status_code == 422
    assert {e["field"] for e in notice.get_json()["errors"]} == {"data.plan"}
    assert api.put("/api/v1/notice-types/nope/template", json=texts).status_code == 404
    only_notices = bearer(issue_key("notices"))
    assert api.put(url, json=texts, headers=only_notices).status_code == 403
