"""Preflight: a campaign whose template fails for part of its audience, or whose audience is
empty, cannot be scheduled; the refusal names the reason, a count and a few recipients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import contacts
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.infra.extensions import db
from notifier.models import Campaign, Contact, StaffUser
from tests.conftest import configure
from tests.integration import test_api_support as support
from tests.integration.helpers import drain, make_contact, sample_data
from tests.integration.test_admin_support import browser, make_staff, post, sign_in
from tests.integration.test_api_support import conforms
from tests.smtp_server import SmtpTestServer

api, key = support.api, support.key  # fixtures
# Saving a template renders it for a sample contact without attributes, so the plan is printed
# only for VIP contacts: a VIP without a plan is what slips through and fails at send time.
PLAN_SUBJECT = (
    builtin_layouts()["promotion"].subject
    + "{% if contact.vip is defined %} {{ contact.plan }}{% endif %}"
)


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url)
        yield server


def _api_campaign(api: FlaskClient, subject: str = PLAN_SUBJECT, **audience: object) -> int:
    layout = builtin_layouts()["promotion"]
    template = api.post(
        "/api/v1/templates",
        json={"name": "Plan", "kind": "promotion", "purpose": "promotions", "subject": subject,
              "body_mjml": layout.body, "text": layout.text},
    )  # fmt: skip
    assert template.status_code == 201, template.get_json()
    campaign = api.post(
        "/api/v1/campaigns",
        json={"name": "Plan", "kind": "promotion", "purpose": "promotions",
              "template_id": template.get_json()["id"], "data": sample_data("promotion"),
              "audience": audience},
    )  # fmt: skip
    assert campaign.status_code == 201, campaign.get_json()
    return int(campaign.get_json()["id"])


def _schedule(api: FlaskClient, campaign_id: int) -> tuple[int, dict]:
    response = api.post(f"/api/v1/campaigns/{campaign_id}/schedule", json={})
    return response.status_code, conforms(response, "post", "/campaigns/{campaign_id}/schedule")


def _status(campaign_id: int) -> str:
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None
    db.session.refresh(campaign)
    return campaign.status


def _mixed_audience() -> None:
    make_contact("gold@example.com", ("promotions",), attributes={"vip": 1, "plan": "Vàng"})
    for i in range(4):
        make_contact(
            f"noplan{i}@example.com", ("promotions",), attributes={"vip": 1, "city": "Huế"}
        )


def test_the_api_refuses_an_empty_audience(app: Flask, api: FlaskClient) -> None:
    make_contact("never-agreed@example.com")  # exists, but may not receive promotions
    campaign_id = _api_campaign(api)
    code, problem = _schedule(api, campaign_id)
    assert code == 422
    assert [e["field"] for e in problem["errors"]] == ["audience"]
    assert "no recipients" in problem["errors"][0]["detail"]
    assert _status(campaign_id) == "draft"


def test_the_api_names_the_failing_recipients_with_a_count(app: Flask, api: FlaskClient) -> None:
    _mixed_audience()
    campaign_id = _api_campaign(api)
    code, problem = _schedule(api, campaign_id)
    assert code == 422, problem
    [error] = problem["errors"]
    assert error["field"] == "data" and "plan" in error["detail"]
    assert error["count"] == 4 and len(error["examples"]) == 3
    assert set(error["examples"]) <= {f"noplan{i}@example.com" for i in range(4)}
    assert "4 of 5" in problem["detail"]
    assert _status(campaign_id) == "draft"

    # Once everyone has the field, the same campaign schedules.
    for contact in db.session.scalars(db.select(Contact)):
        contacts.save_contact({"email": contact.email, "attributes": {"vip": 1, "plan": "Bạc"}})
    code, scheduled = _schedule(api, campaign_id)
    assert code == 200 and scheduled["status"] in ("scheduled", "sending")


def test_a_render_failure_after_scheduling_is_counted_as_render_failed(
    app: Flask, api: FlaskClient, smtp: SmtpTestServer
) -> None:
    make_contact("gold@example.com", ("promotions",), attributes={"vip": 1, "plan": "Vàng"})
    late = make_contact("late@example.com", ("promotions",), attributes={"vip": 1, "plan": "Bạc"})
    campaign_id = _api_campaign(api)
    assert _schedule(api, campaign_id)[0] == 200
    # The contact loses the field between scheduling and sending: preflight cannot see that.
    db.session.get(Contact, late).attributes = {"vip": 1}
    db.session.commit()
    drain(app)
    status = api.get(f"/api/v1/campaigns/{campaign_id}").get_json()
    assert status["reasons"] == {"render_failed": 1}
    assert status["counters"] == {"sent": 1, "failed": 1, "total": 2}
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'notifier_deliveries{reason="render_failed",status="failed"} 1.0' in metrics
    assert 'reason="smtp_permanent"' not in metrics
    staff = browser(app)
    make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(staff, "admin@example.com")
    page = staff.get(f"/admin/campaigns/{campaign_id}/progress").get_data(as_text=True)
    assert "Lỗi tạo nội dung từ mẫu" in page
    page = staff.get(f"/admin/campaigns/{campaign_id}/progress?lang=en").get_data(as_text=True)
    assert "Template could not be rendered" in page
    page = staff.get(f"/admin/contacts/{late}?lang=vi").get_data(as_text=True)
    assert "Lỗi tạo nội dung từ mẫu" in page and "SMTP" not in page


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> StaffUser:
    user = make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(client, "admin@example.com")
    return user


def _admin_campaign(client: FlaskClient, api: FlaskClient, **audience: object) -> int:
    campaign_id = _api_campaign(api, **audience)
    page = client.get(f"/admin/campaigns/{campaign_id}")
    assert page.status_code == 200
    return campaign_id


def _schedule_page(client: FlaskClient, campaign_id: int, lang: str = "vi") -> str:
    client.get(f"/admin/campaigns?lang={lang}")
    post(client, f"/admin/campaigns/{campaign_id}/schedule", {"when": "now", "confirm": "y"})
    return client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)


def test_the_admin_page_refuses_an_empty_audience_in_both_languages(
    client: FlaskClient, admin: StaffUser, api: FlaskClient
) -> None:
    campaign_id = _admin_campaign(client, api)
    page = _schedule_page(client, campaign_id)
    assert "Không thể lên lịch: chiến dịch không có người nhận nào" in page
    assert _status(campaign_id) == "draft"
    page = _schedule_page(client, campaign_id, "en")
    assert "Cannot schedule: the campaign has no recipients" in page
    assert _status(campaign_id) == "draft"


def test_the_admin_page_names_the_failing_recipients(
    client: FlaskClient, admin: StaffUser, api: FlaskClient
) -> None:
    _mixed_audience()
    campaign_id = _admin_campaign(client, api)
    page = _schedule_page(client, campaign_id)
    assert "mẫu email không tạo được cho 4 trong 5 người nhận" in page
    assert "plan" in page and "noplan0@example.com" in page
    assert _status(campaign_id) == "draft"
    page = _schedule_page(client, campaign_id, "en")
    assert "the template cannot be rendered for 4 of 5 recipients" in page
    # A filter that leaves out the contacts without the field lets it through.
    only_gold = _admin_campaign(client, api, attributes={"plan": "Vàng"})
    assert "Đã lên lịch chiến dịch" in _schedule_page(client, only_gold)
    assert _status(only_gold) in ("scheduled", "sending")
