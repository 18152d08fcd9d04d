"""POST /api/v1/notices: once per Idempotency-Key, and every outcome in GET /notices/<id>."""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.contacts import contacts
from notifier.infra.extensions import db
from notifier.models import AuditEntry, Contact, Notice
from tests.integration import test_api_support as support
from tests.integration.helpers import drain
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.integration.test_api_support import (
    RENEWAL_DATA,
    conforms,
    notice_body,
    renewal_type,
)
from tests.smtp_server import SmtpTestServer

api, key, live_server, smtp = (
    support.api,
    support.key,
    support.live_server,
    support.smtp,
)  # fixtures

NOTICES, NOTICE = "/notices", "/notices/{notice_id}"


def post(api: FlaskClient, body: object, idem: str = "renewal-KH-001-2026") -> tuple[int, dict]:
    response = api.post("/api/v1/notices", json=body, headers={"Idempotency-Key": idem})
    return response.status_code, conforms(response, "post", NOTICES)


def status(api: FlaskClient, notice_id: int) -> dict:
    return conforms(api.get(f"/api/v1/notices/{notice_id}"), "get", NOTICE)


def test_a_notice_is_queued_then_sent_once(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    renewal_type()
    code, accepted = post(api, notice_body())
    assert code == 202
    assert accepted["status_url"] == f"/api/v1/notices/{accepted['id']}"
    assert status(api, accepted["id"])["status"] == "queued"

    drain(app)

    sent = status(api, accepted["id"])
    assert sent["status"] == "sent" and sent["external_ref"] == "KH-001"
    assert sent["sent_at"] and sent["message_id"] and sent["smtp_code"] == 250
    assert [m.rcpt_tos for m in smtp.messages] == [["khach@example.com"]]
    assert sent["message_id"].encode() in smtp.messages[0].data
    contact = contacts.find_by_external_ref("KH-001")
    assert contact is not None and contact.name == "Nguyễn Văn An"
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "notice.trigger"))


def test_a_repeat_gets_the_same_answer_and_another_body_a_conflict(
    app: Flask, api: FlaskClient
) -> None:
    renewal_type()
    first = api.post("/api/v1/notices", json=notice_body(), headers={"Idempotency-Key": "k1"})
    again = api.post("/api/v1/notices", json=notice_body(), headers={"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.get_json() == again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"

    changed = notice_body(
        data={**RENEWAL_DATA, "service_name": "other", "expires_on": "2026-09-01"}
    )
    code, problem = post(api, changed, idem="k1")
    assert code == 409 and "different request body" in problem["detail"]
    assert db.session.scalar(select(func.count()).select_from(Notice)) == 1


def test_bad_requests_name_every_bad_field(app: Flask, api: FlaskClient) -> None:
    renewal_type()
    body = {"type": "no-such-type", "contact": {"email": "not-an-address", "locale": "fr"}}
    code, problem = post(api, body)
    assert code == 422
    fields = {e["field"]: e["detail"] for e in problem["errors"]}
    assert set(fields) == {
        "type",
        "contact.external_ref",
        "contact.email",
        "contact.locale",
        "data",
    }
    assert "unknown notice type" in fields["type"]
    assert "@" in fields["contact.email"] or "address" in fields["contact.email"]
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_the_idempotency_key_is_required(app: Flask, api: FlaskClient) -> None:
    renewal_type()
    response = api.post("/api/v1/notices", json=notice_body())
    problem = conforms(response, "post", NOTICES)
    assert response.status_code == 422
    assert [e["field"] for e in problem["errors"]] == ["Idempotency-Key"]


def test_a_withdrawn_contact_is_skipped_with_the_reason(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    renewal_type()
    api.post(
        "/api/v1/contacts",
        json={
            "external_ref": "KH-001",
            "email": "khach@example.com",
            "consents": [{"purpose": "renewal", "action": "withdraw"}],
        },
    )
    _, accepted = post(api, notice_body())
    drain(app)
    skipped = status(api, accepted["id"])
    assert (skipped["status"], skipped["reason"]) == ("skipped", "withdrawn")
    assert smtp.messages == []


def test_an_ended_contract_is_skipped_with_the_reason(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    renewal_type()
    ended = (date.today() - timedelta(days=2)).isoformat()
    api.post(
        "/api/v1/contacts",
        json={"external_ref": "KH-001", "email": "khach@example.com", "contract_ends_on": ended},
    )
    _, accepted = post(api, notice_body())
    drain(app)
    skipped = status(api, accepted["id"])
    assert (skipped["status"], skipped["reason"]) == ("skipped", "contract_ended")
    assert smtp.messages == []


def test_a_rejected_address_fails_with_the_smtp_code(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    renewal_type()
    smtp.rcpt_replies["khach@example.com"] = "550 5.1.1 mailbox unavailable"
    _, accepted = post(api, notice_body())
    drain(app)
    failed = status(api, accepted["id"])
    assert (failed["status"], failed["smtp_code"]) == ("failed", 550)
    assert "mailbox unavailable" in failed["smtp_message"]


def test_a_notice_for_later_waits(app: Flask, api: FlaskClient, smtp: SmtpTestServer) -> None:
    renewal_type()
    _, accepted = post(api, notice_body(send_at="2099-01-01T09:00:00+07:00"))
    drain(app)
    waiting = status(api, accepted["id"])
    assert waiting["status"] == "queued" and waiting["send_at"].startswith("2099-01-01T02:00")
    assert smtp.messages == []


def test_notice_types_are_listed(app: Flask, api: FlaskClient) -> None:
    renewal_type()
    listing = conforms(api.get("/api/v1/notice-types"), "get", "/notice-types")
    # The profile's shipped types may be there too (setup makes them): the one defined here is.
    assert {"key": "renewal", "name": "Renewal notice", "purpose": "renewal"} in listing["items"]
    keys = [item["key"] for item in listing["items"]]
    assert len(keys) == len(set(keys))


def test_an_unknown_notice_is_404(app: Flask, api: FlaskClient) -> None:
    response = api.get("/api/v1/notices/999")
    assert response.status_code == 404
    conforms(response, "get", NOTICE)
    assert api.get("/api/v1/notices/99999999999999").status_code == 404


def test_ten_parallel_posts_with_one_key_make_one_notice_and_one_email(
    app: Flask, key: str, live_server: str, smtp: SmtpTestServer
) -> None:
    renewal_type()
    body = json.dumps(notice_body()).encode()
    start = threading.Barrier(10)

    def call(_: int) -> tuple[int, int]:
        request = urllib.request.Request(
            f"{live_server}/api/v1/notices",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": "same-key",
            },
        )
        start.wait()
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.load(answer)["id"]

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(call, range(10)))
    assert {code for code, _ in answers} == {202}
    assert len({notice_id for _, notice_id in answers}) == 1
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(Notice)) == 1
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
    drain(app)
    assert [m.rcpt_tos for m in smtp.messages] == [["khach@example.com"]]


def test_data_that_does_not_fit_the_template_fails_as_a_render_failure_not_smtp(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    renewal_type()
    _, accepted = post(api, notice_body())
    # The API refuses data without service_name (see test_api_notice_data.py); data that stops
    # fitting after acceptance still fails at send time, as a render failure.
    notice = db.session.get(Notice, accepted["id"])
    notice.data = {k: v for k, v in notice.data.items() if k != "service_name"}
    contact_id = notice.contact_id
    db.session.commit()
    drain(app)
    failed = status(api, accepted["id"])
    assert (failed["status"], failed["reason"], failed["smtp_code"]) == (
        "failed",
        "render_failed",
        None,
    )
    assert "service_name" in failed["smtp_message"]
    assert smtp.messages == []
    # Staff read the same reason on the contact's page, never an SMTP one.
    staff = browser(app)
    make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(staff, "admin@example.com")
    page = staff.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    assert "Lỗi tạo nội dung từ mẫu" in page and "SMTP" not in page and "smtp" not in page
