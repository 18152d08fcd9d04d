"""Hostile ways to schedule a campaign "at 09:00 in each recipient's zone", through the real API
and the real admin form: each is refused with the field named, and the campaign stays a draft."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import Campaign
from tests.integration import test_api_support as support
from tests.integration.api.test_api_campaigns import act, new_campaign
from tests.integration.helpers import make_contact
from tests.integration.test_admin_support import browser, make_staff, post, sign_in

api, key = support.api, support.key  # fixtures
NOW = datetime(2027, 3, 27, 12, tzinfo=UTC)


def draft(api: FlaskClient) -> int:
    make_contact("yes@example.com", ("promotions",))
    return int(new_campaign(api)["id"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"in_recipient_zone": True}, "send_at"),  # no time at all
        ({"in_recipient_zone": True, "send_at": "2027-03-28T09:00:00+07:00"}, "send_at"),
        ({"in_recipient_zone": True, "send_at": "2027-03-28T09:00Z"}, "send_at"),
        (
            {"in_recipient_zone": True, "send_at": "2027-03-28T09:00", "time_zone": "UTC"},
            "send_at",
        ),
        ({"in_recipient_zone": "true", "send_at": "2027-03-28T09:00"}, "in_recipient_zone"),
        ({"in_recipient_zone": 1, "send_at": "2027-03-28T09:00"}, "in_recipient_zone"),
        ({"in_recipient_zone": None, "send_at": "2027-03-28T09:00"}, "in_recipient_zone"),
        ({"in_recipient_zone": True, "send_at": "2027-02-30T09:00"}, "send_at"),
        ({"in_recipient_zone": True, "send_at": "2027-03-28T25:00"}, "send_at"),
        ({"in_recipient_zone": True, "send_at": "2027-03-28T09:00\n"}, "send_at"),
        ({"send_at": "2027-03-28T09:00\n"}, "send_at"),  # the campaign's own zone, likewise
        ({"send_at": "2027-03-28T09:00:00+07:00\n"}, "send_at"),
        # 09:00 on 25 March has passed in every zone by noon UTC on the 27th
        ({"in_recipient_zone": True, "send_at": "2027-03-25T09:00"}, "send_at"),
    ],
)
def test_a_hostile_local_schedule_is_refused_with_its_field(
    app: Flask, api: FlaskClient, body: dict, field: str
) -> None:
    campaign_id = draft(api)
    with time_machine.travel(NOW, tick=False):
        code, problem = act(api, campaign_id, "schedule", body)
    assert code == 422, problem
    assert field in {e["field"] for e in problem["errors"]}, problem
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None and campaign.status == "draft" and campaign.local_send_at is None


def test_a_local_schedule_is_answered_with_its_wall_clock_time(
    app: Flask, api: FlaskClient
) -> None:
    campaign_id = draft(api)
    with time_machine.travel(NOW, tick=False):
        # 09:00 on the 27th has passed in Asia, not yet in America: accepted.
        body = {"in_recipient_zone": True, "send_at": "2027-03-27T09:00"}
        code, scheduled = act(api, campaign_id, "schedule", body)
    assert code == 200, scheduled
    assert scheduled["local_send_at"] == "2027-03-27T09:00"
    assert scheduled["send_at"].startswith("2027-03-26T19:00:00")  # at UTC+14


@pytest.mark.parametrize(
    "form",
    [
        {"when": "now", "recipient_zone": "y", "confirm": "y"},  # a zone's time needs a time
        {"when": "later", "send_at": "2027-03-25T09:00", "recipient_zone": "y", "confirm": "y"},
        {"when": "later", "send_at": "2027-03-28T09:00", "recipient_zone": "y"},  # unconfirmed
        {"when": "later", "send_at": "<script>", "recipient_zone": "y", "confirm": "y"},
    ],
)
def test_the_admin_form_refuses_a_hostile_local_schedule(
    app: Flask, api: FlaskClient, form: dict
) -> None:
    campaign_id = draft(api)
    make_staff("marketing@example.com", "marketing")
    with time_machine.travel(NOW, tick=False):
        client = browser(app)
        sign_in(client, "marketing@example.com")
        answer = post(client, f"/admin/campaigns/{campaign_id}/schedule", form)
        assert answer.status_code == 302
        shown = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "<script>" not in shown
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None and campaign.status == "draft" and campaign.local_send_at is None
    if form.get("when") == "now":
        assert "cần chọn ngày giờ để gửi theo múi giờ của từng người nhận" in shown
