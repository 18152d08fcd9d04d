"""Contacts over the API: upsert by external_ref, consent only with evidence, history, audit."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import AuditEntry, ConsentEvent
from tests.integration import test_api_support as support
from tests.integration.test_api_support import conforms

api, key = support.api, support.key  # fixtures

CONTACTS, CONTACT = "/contacts", "/contacts/{external_ref}"
CONSENTS = "/contacts/{external_ref}/consents"


def evidence(**changes: object) -> dict:
    return {
        "source": "web_form",
        "notice_version": profile().purpose("promotions").notice_version,
        "collected_at": "2026-01-05T09:30:00+07:00",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        **changes,
    }


def create(api: FlaskClient, **fields: object) -> tuple[int, dict]:
    body = {"external_ref": "KH-001", "email": "an@example.com", **fields}
    response = api.post("/api/v1/contacts", json=body)
    return response.status_code, conforms(response, "post", CONTACTS)


def test_post_creates_then_updates_by_external_ref(app: Flask, api: FlaskClient) -> None:
    code, made = create(
        api,
        name="Nguyễn Văn An",
        tags=["vip"],
        contract_ends_on="2027-01-31",
        attributes={"plan": "hosting-pro"},
    )
    assert code == 201
    assert (made["name"], made["tags"], made["contract_ends_on"]) == (
        "Nguyễn Văn An",
        ["vip"],
        "2027-01-31",
    )
    code, again = create(api, email="AN@Example.com", phone="+84 912 345 678")
    assert (
        code == 200 and again["email"] == "an@example.com" and again["phone"] == "+84 912 345 678"
    )
    assert again["name"] == "Nguyễn Văn An"


def test_patch_changes_only_what_it_names(app: Flask, api: FlaskClient) -> None:
    create(api, name="An", tags=["vip"])
    response = api.patch("/api/v1/contacts/KH-001", json={"locale": "en", "tags": ["a", "b"]})
    patched = conforms(response, "patch", CONTACT)
    assert (patched["locale"], patched["tags"], patched["name"]) == ("en", ["a", "b"], "An")
    missing = api.patch("/api/v1/contacts/KH-404", json={"name": "x"})
    assert missing.status_code == 404
    conforms(missing, "patch", CONTACT)
    got = conforms(api.get("/api/v1/contacts/KH-001"), "get", CONTACT)
    assert got["locale"] == "en"


def test_bad_fields_are_all_named_and_nothing_changes(app: Flask, api: FlaskClient) -> None:
    create(api, name="An")
    bad = {
        "email": "nope",
        "phone": "call me",
        "locale": "fr",
        "colour": "red",
        "contract_ends_on": "31/01/2027",
    }
    response = api.patch("/api/v1/contacts/KH-001", json=bad)
    problem = conforms(response, "patch", CONTACT)
    assert response.status_code == 422
    fields = {e["field"]: e["detail"] for e in problem["errors"]}
    assert set(fields) == {"email", "phone", "locale", "colour", "contract_ends_on"}
    assert "YYYY-MM-DD" in fields["contract_ends_on"] and fields["colour"] == "unknown field"
    assert api.get("/api/v1/contacts/KH-001").get_json()["email"] == "an@example.com"


def test_an_address_of_another_contact_conflicts(app: Flask, api: FlaskClient) -> None:
    create(api)
    code, problem = create(api, external_ref="KH-002")
    assert code == 409 and "KH-001" in problem["detail"]


def test_consent_is_granted_only_with_evidence(app: Flask, api: FlaskClient) -> None:
    code, _ = create(
        api, consents=[{"purpose": "promotions", "action": "grant", "evidence": evidence()}]
    )
    assert code == 201
    event = db.session.scalar(select(ConsentEvent))
    assert event is not None and (event.source, event.ip) == ("api", "203.0.113.7")
    assert event.api_key_id is not None and event.evidence["channel"] == "web_form"
    assert event.occurred_at.isoformat().startswith("2026-01-05T02:30")

    overview = conforms(api.get("/api/v1/contacts/KH-001/consents"), "get", CONSENTS)
    states = {p["purpose"]: p["status"] for p in overview["purposes"]}
    assert states["promotions"] == "granted" and states["events"] == "none"
    assert [(h["purpose"], h["action"]) for h in overview["history"]] == [("promotions", "grant")]


def test_a_grant_without_proof_is_refused_and_nothing_is_stored(
    app: Flask, api: FlaskClient
) -> None:
    no_ip = evidence()
    del no_ip["ip"]
    changes = [
        {"purpose": "promotions", "action": "grant"},
        {"purpose": "events", "action": "grant", "evidence": no_ip},
    ]
    code, problem = create(api, consents=changes)
    assert code == 422
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"consents[0].evidence", "consents[1].evidence"}
    stale = [
        {"purpose": "promotions", "action": "grant", "evidence": evidence(notice_version="1999")}
    ]
    code, problem = create(api, consents=stale)
    assert code == 422 and problem["errors"][0]["field"] == "consents[0].evidence"
    assert "current version" in problem["errors"][0]["detail"]
    unknown = [{"purpose": "lottery", "action": "withdraw"}]
    code, problem = create(api, consents=unknown)
    assert code == 422 and problem["errors"][0]["field"] == "consents[0].purpose"
    assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 0
    assert api.get("/api/v1/contacts/KH-001").status_code == 404


def test_a_staff_reference_stands_in_for_the_ip(app: Flask, api: FlaskClient) -> None:
    hotline = evidence(source="hotline", staff_ref="agent-17")
    del hotline["ip"]
    code, _ = create(
        api, consents=[{"purpose": "promotions", "action": "grant", "evidence": hotline}]
    )
    assert code == 201
    event = db.session.scalar(select(ConsentEvent))
    assert event is not None and event.evidence["reference"] == "agent-17"


def test_withdrawal_needs_no_evidence(app: Flask, api: FlaskClient) -> None:
    create(api, consents=[{"purpose": "promotions", "action": "grant", "evidence": evidence()}])
    response = api.patch(
        "/api/v1/contacts/KH-001",
        json={"consents": [{"purpose": "promotions", "action": "withdraw"}]},
    )
    assert response.status_code == 200
    overview = api.get("/api/v1/contacts/KH-001/consents").get_json()
    assert [h["action"] for h in overview["history"]] == ["grant", "withdraw"]
    assert {p["purpose"]: p["status"] for p in overview["purposes"]}["promotions"] == "withdrawn"


def test_reads_of_personal_data_are_audited(app: Flask, api: FlaskClient) -> None:
    create(api)
    api.get("/api/v1/contacts/KH-001")
    api.get("/api/v1/contacts/KH-001/consents")
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["contact.create", "contact.view", "consent.view"]
    assert all(a.startswith("api:") for a in db.session.scalars(select(AuditEntry.actor)))


def test_unaddressable_refs_are_not_found(app: Flask, api: FlaskClient) -> None:
    for ref in ("..", "a%00b", "x" * 101):
        response = api.get(f"/api/v1/contacts/{ref}/consents")
        assert response.status_code == 404


def test_fields_of_the_wrong_type_are_named_not_crashed_on(app: Flask, api: FlaskClient) -> None:
    code, problem = create(api, tags=1.5, attributes=[], phone="call me")
    assert code == 422
    assert {e["field"] for e in problem["errors"]} == {"tags", "attributes", "phone"}
