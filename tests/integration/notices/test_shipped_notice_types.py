"""The profiles ship their notice types: after `setup` the docs/api.md renewal example works as
written, with no admin step in between."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from notifier.cli import setup_command
from notifier.domain.profile import load_profile
from notifier.infra.extensions import db
from notifier.models import Notice, NoticeType
from notifier.notices.types import data_fields, shipped_template
from tests.integration import test_api_support as support
from tests.integration.helpers import drain, layout_template
from tests.integration.test_api_support import bearer, conforms, issue_key
from tests.smtp_server import SmtpTestServer

api, key, smtp = support.api, support.key, support.smtp  # fixtures
ROOT = Path(__file__).resolve().parents[3]


def docs_example() -> tuple[dict[str, str], dict]:
    """The headers and JSON body of the first `POST "$API/notices"` curl in docs/api.md."""
    text = (ROOT / "docs" / "api.md").read_text("utf-8")
    command = re.search(r'curl -sS -X POST "\$API/notices".*?\n```', text, re.S)
    assert command is not None
    words = shlex.split(command.group(0).removesuffix("```").replace("\\\n", " "))
    headers = dict(words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H")
    body = json.loads(words[words.index("-d") + 1])
    return headers, body


def _fresh_setup(app: Flask, runner: FlaskCliRunner) -> None:
    # The test database may hold types from an earlier setup: start from none, as a new install.
    db.session.execute(db.delete(NoticeType))
    db.session.commit()
    result = runner.invoke(setup_command)
    assert result.exit_code == 0, result.output


def test_the_docs_renewal_example_works_after_setup(
    app: Flask, runner: FlaskCliRunner, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    _fresh_setup(app, runner)
    headers, body = docs_example()
    assert body["type"] == "renewal"
    del body["send_at"]  # the example's date is in the past by now: send at once
    idem = headers["Idempotency-Key"]
    response = api.post("/api/v1/notices", json=body, headers={"Idempotency-Key": idem})
    assert response.status_code == 202, response.get_json()
    drain(app)
    assert [m.rcpt_tos for m in smtp.messages] == [["an@example.com"]]
    assert db.session.scalar(select(func.count()).select_from(Notice)) == 1


def test_setup_keeps_a_type_staff_changed(app: Flask, runner: FlaskCliRunner) -> None:
    _fresh_setup(app, runner)
    renewal = db.session.get(NoticeType, "renewal")
    assert renewal is not None
    renewal.name = "Gia hạn (sửa bởi nhân viên)"
    db.session.commit()
    assert runner.invoke(setup_command).exit_code == 0
    db.session.refresh(renewal)
    assert renewal.name == "Gia hạn (sửa bởi nhân viên)"
    assert db.session.scalar(select(func.count()).select_from(NoticeType)) == 2


@pytest.mark.parametrize("name", ["dcnet", "caycanhhoanggia"])
def test_every_shipped_type_has_a_service_purpose_and_a_template(name: str) -> None:
    profile = load_profile(ROOT / "config" / "profiles" / f"{name}.toml")
    assert profile.notice_types
    for spec in profile.notice_types:
        assert not profile.purpose(spec.purpose).is_advertising
        variants = shipped_template(spec)
        assert [locale for locale, _ in variants] == ["vi", "en"]
        for _, variant in variants:
            assert variant.body_mjml.startswith("<mjml")
            # Each names the data it needs, so the API can refuse a notice that lacks it.
            assert data_fields(variant.subject, variant.body_mjml, variant.text).required


def _type_body(template_id: int, **changes: object) -> dict:
    return {"key": "renewal_7d", "name": "Gia hạn 7 ngày", "purpose": "renewal",
            "template_id": template_id, **changes}  # fmt: skip


def test_notice_types_are_managed_through_the_api(app: Flask, client: FlaskClient) -> None:
    template_id = layout_template("renewal", "renewal")
    writer = bearer(issue_key("templates", "notices"))
    created = client.post("/api/v1/notice-types", json=_type_body(template_id), headers=writer)
    assert created.status_code == 201
    assert conforms(created, "post", "/notice-types")["key"] == "renewal_7d"
    again = client.post("/api/v1/notice-types", json=_type_body(template_id), headers=writer)
    assert again.status_code == 409 and conforms(again, "post", "/notice-types")
    changed = client.put(
        "/api/v1/notice-types/renewal_7d",
        json={"name": "Gia hạn 7 ngày (mới)", "purpose": "renewal", "template_id": template_id},
        headers=writer,
    )
    assert changed.status_code == 200
    assert conforms(changed, "put", "/notice-types/{key}")["name"] == "Gia hạn 7 ngày (mới)"
    listed = client.get("/api/v1/notice-types", headers=writer).get_json()["items"]
    assert "renewal_7d" in {t["key"] for t in listed}
    missing = client.put(
        "/api/v1/notice-types/nope",
        json={"name": "x", "purpose": "renewal", "template_id": template_id},
        headers=writer,
    )
    assert missing.status_code == 404


def test_a_notices_key_cannot_define_or_change_a_type(app: Flask, client: FlaskClient) -> None:
    template_id = layout_template("renewal", "renewal")
    trigger_only = bearer(issue_key("notices"))
    assert client.get("/api/v1/notice-types", headers=trigger_only).status_code == 200
    attempt = client.post(
        "/api/v1/notice-types", json=_type_body(template_id), headers=trigger_only
    )
    assert attempt.status_code == 403
    hijack = client.put(
        "/api/v1/notice-types/renewal",
        json={"name": "x", "purpose": "renewal", "template_id": template_id},
        headers=trigger_only,
    )
    assert hijack.status_code == 403
    assert db.session.get(NoticeType, "renewal_7d") is None


def test_an_advertising_template_cannot_become_a_notice(app: Flask, client: FlaskClient) -> None:
    advert = layout_template("promotion", "promotions")
    writer = bearer(issue_key("templates"))
    refused = client.post(
        "/api/v1/notice-types",
        json=_type_body(advert, purpose="promotions"),
        headers=writer,
    )
    assert refused.status_code == 422
    assert db.session.get(NoticeType, "renewal_7d") is None
