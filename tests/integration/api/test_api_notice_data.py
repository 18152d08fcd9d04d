"""POST /api/v1/notices checks `data` against the fields the notice type's template uses: a
notice that would fail at send time is refused at once, naming each missing or ill-typed field."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.infra.extensions import db
from notifier.models import Contact, Notice, Template
from notifier.notices import notices
from notifier.notices.types import data_fields
from tests.integration import test_api_support as support
from tests.integration.helpers import committed, drain
from tests.integration.test_api_support import RENEWAL_DATA, conforms, notice_body, renewal_type
from tests.smtp_server import SmtpTestServer

api, key, smtp = support.api, support.key, support.smtp  # fixtures


def post(api: FlaskClient, body: object, idem: str = "data-1") -> tuple[int, dict]:
    response = api.post("/api/v1/notices", json=body, headers={"Idempotency-Key": idem})
    assert response.mimetype in ("application/json", "application/problem+json")
    return response.status_code, conforms(response, "post", "/notices")


def _nothing_stored() -> None:
    assert db.session.scalar(select(func.count()).select_from(Notice)) == 0
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_missing_fields_are_named_and_nothing_is_queued(app: Flask, api: FlaskClient) -> None:
    renewal_type()
    data = {k: v for k, v in RENEWAL_DATA.items() if k not in ("service_name", "renew_url")}
    code, problem = post(api, notice_body(data=data))
    assert code == 422
    fields = {e["field"]: e["detail"] for e in problem["errors"]}
    assert set(fields) == {"data.service_name", "data.renew_url"}
    assert "required" in fields["data.service_name"]
    _nothing_stored()


def test_null_and_wrong_types_are_named(app: Flask, api: FlaskClient) -> None:
    renewal_type()
    data = {**RENEWAL_DATA, "service_name": None, "expires_on": "next week", "amount": "a lot"}
    code, problem = post(api, notice_body(data=data))
    assert code == 422
    fields = {e["field"]: e["detail"] for e in problem["errors"]}
    assert set(fields) == {"data.service_name", "data.expires_on", "data.amount"}
    assert "null" in fields["data.service_name"]
    assert "date" in fields["data.expires_on"] and "number" in fields["data.amount"]
    _nothing_stored()


def test_complete_data_is_accepted_and_sent(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    renewal_type()
    code, accepted = post(api, notice_body(data={**RENEWAL_DATA, "unused": "fine"}))
    assert code == 202, accepted
    drain(app)
    assert [m.rcpt_tos for m in smtp.messages] == [["khach@example.com"]]


def test_guarded_fields_are_optional_and_composer_names_are_not_asked_for(
    app: Flask, api: FlaskClient
) -> None:
    # Stored directly: save_template checks a template against its kind's sample data.
    template = Template(
        name="Order",
        kind="renewal",
        purpose_key="renewal",
        subject="Đơn {{ order_id }} {{ contact_name }}",
        body_mjml="<mjml><mj-body><mj-section><mj-column><mj-text>"
        "{{ contact.name }} {% if note is defined %}{{ note }}{% endif %} "
        "{{ tip | default('') }} {% for line in lines %}{{ line }}{% endfor %}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>",
    )
    db.session.add(template)
    db.session.commit()
    fields = data_fields(template.subject, template.body_mjml, template.text)
    assert fields.required == {"order_id", "lines"}
    assert fields.optional == {"note", "tip"}
    with committed():
        notices.define_notice_type("order", "Order", "renewal", template.id)
    code, problem = post(api, notice_body(type="order", data={"order_id": "A1"}))
    assert code == 422
    assert [e["field"] for e in problem["errors"]] == ["data.lines"]
    code, answer = post(api, notice_body(type="order", data={"order_id": "A1", "lines": "x"}))
    assert code == 202, answer
