"""Campaign pages: create with a live audience count, test send, schedule in a zone, run, report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.infra.extensions import db
from notifier.models import AuditEntry, Campaign, ConsentSource, StaffUser
from tests.conftest import configure
from tests.integration.helpers import drain, layout_template, make_contact, sample_data
from tests.integration.test_admin_support import (
    browser,
    make_staff,
    post,
    sign_in,
)
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Requests that do not share flask.g (see test_admin_support.Browser)."""
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


def _audience() -> None:
    make_contact("a@example.com", grants=("promotions",), name="A")
    make_contact("b@example.com", grants=("promotions",), name="B", tags=["vip"])
    gone = make_contact("c@example.com", grants=("promotions",), name="C")
    consent.withdraw(gone, ["promotions"], consent.Evidence(source=ConsentSource.ONE_CLICK))
    make_contact("d@example.com", name="D")


def _create(client: FlaskClient, **fields: object) -> object:
    form = {
        "name": "Khuyến mãi tháng 6",
        "kind": "promotion",
        "purpose_key": "promotions",
        "template_id": str(layout_template("promotion", "promotions")),
        "tags": "",
        "locale": "",
        "time_zone": "Asia/Ho_Chi_Minh",
        "data": json.dumps(sample_data("promotion")),
    }
    return post(client, "/admin/campaigns/new", {**form, **fields})


def test_the_audience_count_is_live_and_says_who_is_excluded_and_why(
    client: FlaskClient, admin: StaffUser
) -> None:
    _audience()
    fragment = post(client, "/admin/campaigns/audience", {"purpose_key": "promotions"})
    text = fragment.get_data(as_text=True)
    assert 'data-testid="eligible">2<' in text and "trên 4 liên hệ" in text
    assert "Đã rút lại đồng ý" in text and "Chưa đồng ý" in text
    vip = post(client, "/admin/campaigns/audience", {"purpose_key": "promotions", "tags": "VIP"})
    assert 'data-testid="eligible">1<' in vip.get_data(as_text=True)
    unknown = post(client, "/admin/campaigns/audience", {"purpose_key": "nope"})
    assert "Chọn ít nhất một mục đích" in unknown.get_data(as_text=True)


def test_bad_campaign_data_is_refused_and_nothing_is_created(
    client: FlaskClient, admin: StaffUser
) -> None:
    response = _create(client, data="{not json")
    assert response.status_code == 422 and "JSON" in response.get_data(as_text=True)
    response = _create(client, time_zone="Mars/Olympus")
    assert response.status_code == 422
    assert db.session.scalar(db.select(db.func.count()).select_from(Campaign)) == 0


def test_schedule_reads_the_local_time_in_the_campaigns_zone(
    client: FlaskClient, admin: StaffUser
) -> None:
    _audience()
    created = _create(client)
    campaign_id = int(created.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert "[QC]" in page and "srcdoc=" in page and 'sandbox=""' in page
    unconfirmed = post(
        client,
        f"/admin/campaigns/{campaign_id}/schedule",
        {"when": "later", "send_at": "2031-01-15T09:00"},
    )
    assert unconfirmed.status_code == 302
    assert db.session.get(Campaign, campaign_id).status == "draft"
    past = post(
        client,
        f"/admin/campaigns/{campaign_id}/schedule",
        {"when": "later", "send_at": "2020-01-15T09:00", "confirm": "y"},
    )
    assert past.status_code == 302 and db.session.get(Campaign, campaign_id).status == "draft"
    post(
        client,
        f"/admin/campaigns/{campaign_id}/schedule",
        {"when": "later", "send_at": "2031-01-15T09:00", "confirm": "y"},
    )
    campaign = db.session.get(Campaign, campaign_id)
    db.session.refresh(campaign)
    assert campaign.status == "scheduled"
    assert campaign.send_at == datetime(2031, 1, 15, 2, 0, tzinfo=UTC)  # 09:00 at UTC+7
    page = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert "15/01/2031 09:00" in page and "2031-01-15 02:00 UTC" in page


def test_a_test_send_keeps_the_label_first_and_goes_to_staff_only(
    client: FlaskClient, admin: StaffUser, smtp: SmtpTestServer
) -> None:
    _audience()
    campaign_id = int(_create(client).headers["Location"].rsplit("/", 1)[1])
    post(client, f"/admin/campaigns/{campaign_id}/test", {"to": "admin@example.com"})
    assert [m.rcpt_tos for m in smtp.messages] == [["admin@example.com"]]
    subject = str(message_from_bytes(smtp.messages[0].data, policy=policy.default)["Subject"])
    assert subject.startswith("[QC] (thử nghiệm/test) ")
    assert subject.count("[QC]") == 1
    refused = post(client, f"/admin/campaigns/{campaign_id}/test", {"to": "a@example.com"})
    assert len(smtp.messages) == 1
    assert refused.status_code == 302
    assert db.session.get(Campaign, campaign_id).status == "draft"


def test_a_campaign_runs_to_its_report(
    app: Flask, client: FlaskClient, admin: StaffUser, smtp: SmtpTestServer
) -> None:
    admin_id = admin.id  # the worker below ends this session
    _audience()
    campaign_id = int(_create(client).headers["Location"].rsplit("/", 1)[1])
    post(client, f"/admin/campaigns/{campaign_id}/schedule", {"when": "now", "confirm": "y"})
    drain(app)
    progress = client.get(f"/admin/campaigns/{campaign_id}/progress").get_data(as_text=True)
    assert 'data-testid="count-sent">2<' in progress and 'data-testid="percent">100%' in progress
    assert "hx-trigger" not in progress  # a finished campaign stops polling
    polled = client.get(f"/admin/campaigns/{campaign_id}/progress", headers={"HX-Request": "true"})
    assert polled.status_code == 204 and polled.headers["HX-Refresh"] == "true"
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["a@example.com", "b@example.com"]
    report = client.get(f"/admin/campaigns/{campaign_id}/report.csv").get_data(as_text=True)
    lines = report.strip().splitlines()
    assert (
        lines[0]
        == "\ufeffdelivery_id,contact_id,name,email,status,reason,smtp_code,smtp_message,sent_at"
    )
    assert len(lines) == 3 and all(",sent," in line for line in lines[1:])
    exported = db.session.scalar(
        db.select(AuditEntry).where(AuditEntry.action == "campaigns.report_export")
    )
    assert exported is not None and exported.details["rows"] == 2
    assert exported.actor == f"staff:{admin_id}"


def test_pause_resume_and_cancel(client: FlaskClient, admin: StaffUser) -> None:
    _audience()
    campaign_id = int(_create(client).headers["Location"].rsplit("/", 1)[1])
    post(
        client,
        f"/admin/campaigns/{campaign_id}/schedule",
        {"when": "later", "send_at": "2031-01-15T09:00", "confirm": "y"},
    )
    post(client, f"/admin/campaigns/{campaign_id}/pause")
    campaign = db.session.get(Campaign, campaign_id)
    db.session.refresh(campaign)
    assert campaign.status == "paused"
    post(client, f"/admin/campaigns/{campaign_id}/cancel")
    db.session.refresh(campaign)
    assert campaign.status == "cancelled"
    again = post(client, f"/admin/campaigns/{campaign_id}/resume")
    assert again.status_code == 302
    db.session.refresh(campaign)
    assert campaign.status == "cancelled"  # a cancelled campaign stays cancelled


def test_a_renewal_campaign_from_the_form_reads_each_customers_own_services(
    client: FlaskClient, admin: StaffUser
) -> None:
    """Issue #14 item 3: a renewal campaign never sends the sample account to everyone. The
    form's window (default 30 days) makes each recipient's own expiring subscription the data;
    a campaign created without one gets the default window."""
    template = str(layout_template("renewal", "renewal"))
    renewal = {"kind": "renewal", "purpose_key": "renewal", "template_id": template}
    _create(client, name="Gia hạn 14 ngày", expiring_within_days="14", **renewal)
    _create(client, name="Gia hạn mặc định", **renewal)
    _create(client, name="Khuyến mãi", expiring_within_days="14")  # not a renewal: no window
    audiences = {
        c.name: c.audience for c in db.session.scalars(db.select(Campaign).order_by(Campaign.id))
    }
    assert audiences["Gia hạn 14 ngày"]["expiring_within_days"] == 14
    assert audiences["Gia hạn mặc định"]["expiring_within_days"] == 30
    assert "expiring_within_days" not in audiences["Khuyến mãi"]
    page = client.get("/admin/campaigns/new").get_data(as_text=True)
    assert 'name="expiring_within_days"' in page and 'value="30"' in page
