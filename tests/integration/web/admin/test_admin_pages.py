"""Templates, notices and keys, privacy requests, outbox, staff and settings pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.campaigns.lifecycle import preview
from notifier.delivery.composer import Recipient
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.domain.locales import only_vietnamese
from notifier.infra.extensions import db
from notifier.models import (
    ApiKey,
    AuditEntry,
    Contact,
    NoticeType,
    OutboxMessage,
    PrivacyRequest,
    StaffUser,
    Template,
    TemplateVersion,
    utcnow,
)
from notifier.operations import staff
from notifier.privacy import requests as privacy
from tests.conftest import configure
from tests.integration.helpers import committed, layout_template, make_contact, sample_data
from tests.integration.test_admin_support import (
    browser,
    make_staff,
    post,
    sign_in,
)

REQUESTER = privacy.Requester("203.0.113.9", "UA")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Requests that do not share flask.g (see test_admin_support.Browser)."""
    return browser(app)


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> StaffUser:
    user = make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(client, "admin@example.com")
    return user


def _template_form(**fields: str) -> dict[str, str]:
    layout = builtin_layouts()["promotion"]
    return {
        "name": "Ưu đãi",
        "kind": "promotion",
        "purpose_key": "promotions",
        "subject": layout.subject,
        "body_mjml": layout.body,
        "text": "",
        "sample_locale": "vi",
        **fields,
    }


def test_a_template_starts_from_a_layout_and_keeps_every_version(
    client: FlaskClient, admin: StaffUser
) -> None:
    page = client.get("/admin/templates/new?layout=event").get_data(as_text=True)
    assert "mj-section" in page and "srcdoc=" in page
    created = post(client, "/admin/templates/new", _template_form())
    assert created.status_code == 302
    template_id = int(created.headers["Location"].rsplit("/", 1)[1])
    post(client, f"/admin/templates/{template_id}", _template_form(subject="Giảm giá {{ 1 + 1 }}"))
    versions = db.session.scalars(
        db.select(TemplateVersion.version).where(TemplateVersion.template_id == template_id)
    ).all()
    assert sorted(versions) == [1, 2]
    old = client.get(f"/admin/templates/{template_id}?version=1").get_data(as_text=True)
    assert builtin_layouts()["promotion"].subject.split("{")[0].strip() in old


def test_a_template_error_is_shown_at_its_line_and_nothing_is_saved(
    client: FlaskClient, admin: StaffUser
) -> None:
    body = "<mjml><mj-body><mj-section><mj-column>\n<mj-text>\n{{ offer.title }\n</mj-text>\n"
    body += "</mj-column></mj-section></mj-body></mjml>"
    fragment = post(client, "/admin/templates/preview", _template_form(body_mjml=body))
    text = fragment.get_data(as_text=True)
    assert 'data-testid="template-error"' in text and "dòng 3" in text
    assert '<span class="at">   3  {{ offer.title }</span>' in text
    before = db.session.scalar(db.select(db.func.count()).select_from(Template))  # shipped ones
    saved = post(client, "/admin/templates/new", _template_form(body_mjml=body))
    assert saved.status_code == 422
    assert db.session.scalar(db.select(db.func.count()).select_from(Template)) == before
    unsafe = post(
        client, "/admin/templates/preview", _template_form(subject="{{ ''.__class__.__mro__ }}")
    )
    assert "template-error" in unsafe.get_data(as_text=True)


def test_the_live_preview_renders_vietnamese_and_english_sample_data(
    client: FlaskClient, admin: StaffUser
) -> None:
    vi = post(client, "/admin/templates/preview", _template_form()).get_data(as_text=True)
    en = post(client, "/admin/templates/preview", _template_form(sample_locale="en"))
    assert 'data-testid="preview-subject">[QC]' in vi
    assert "Nguyễn Văn An" in vi and "Alex Nguyen" in en.get_data(as_text=True)


def test_notice_types_and_api_keys(client: FlaskClient, admin: StaffUser) -> None:
    template_id = layout_template("renewal", "renewal")
    post(
        client,
        "/admin/notices/types",
        {
            "key": "renewal_30d",
            "name": "Gia hạn 30 ngày",
            "purpose_key": "renewal",
            "template_id": template_id,
        },
    )
    assert db.session.get(NoticeType, "renewal_30d") is not None
    bad = post(
        client,
        "/admin/notices/types",
        {"key": "bad key!", "name": "x", "purpose_key": "renewal", "template_id": template_id},
    )
    assert bad.status_code == 422
    created = post(client, "/admin/notices/keys", {"name": "billing", "scopes": ["notices"]})
    text = created.get_data(as_text=True)
    plaintext = text.split('data-testid="new-key">')[1].split("<")[0]
    assert plaintext.startswith("ntf_")
    assert staff.authenticate_api_key(plaintext, "notices") is not None
    assert plaintext not in client.get("/admin/notices").get_data(as_text=True)  # shown once
    key = db.session.scalar(db.select(ApiKey))
    post(client, f"/admin/notices/keys/{key.id}/revoke")
    assert staff.authenticate_api_key(plaintext, "notices") is None
    assert post(client, "/admin/notices/keys", {"name": "x", "scopes": ["root"]}).status_code == 422


def test_privacy_queue_marks_overdue_and_runs_every_action(
    client: FlaskClient, admin: StaffUser
) -> None:
    contact_id = make_contact("an@example.com", name="An", phone="0903 111 222")
    with committed():
        erasure = privacy.request_erasure(contact_id, REQUESTER)
    with committed():
        complaint = privacy.complain(contact_id, "Tôi nhận quá nhiều thư", REQUESTER)
    complaint.complete_by = utcnow() - timedelta(hours=1)
    db.session.commit()
    queue = client.get("/admin/privacy").get_data(as_text=True)
    assert queue.count('class="overdue"') == 1 and "Quá hạn" in queue
    post(client, f"/admin/privacy/{complaint.id}/acknowledge")
    post(client, f"/admin/privacy/{complaint.id}/answer", {"outcome": ""})
    assert db.session.get(PrivacyRequest, complaint.id).status == "acknowledged"
    post(client, f"/admin/privacy/{complaint.id}/answer", {"outcome": "Đã giảm tần suất."})
    answered = db.session.get(PrivacyRequest, complaint.id)
    db.session.refresh(answered)
    assert answered.status == "completed" and answered.outcome == "Đã giảm tần suất."
    exported = post(client, f"/admin/privacy/{erasure.id}/export")
    assert exported.mimetype == "application/json" and "an@example.com" in exported.get_data(
        as_text=True
    )
    post(client, f"/admin/privacy/{erasure.id}/erase")
    contact = db.session.get(Contact, contact_id)
    db.session.refresh(contact)
    assert contact.erased_at is not None and contact.email is None
    actions = set(db.session.scalars(db.select(AuditEntry.action)))
    assert {
        "privacy.queue_view",
        "privacy.acknowledge",
        "privacy.answer",
        "privacy.export",
        "contact.erase",
    } <= actions


@pytest.mark.parametrize("profile_name", ["dcnet"])
def test_a_name_change_waits_for_staff_approval(client: FlaskClient, admin: StaffUser) -> None:
    from notifier.contacts.preferences import update_profile

    contact_id = make_contact("an@example.com", name="Nguyen An")
    with committed():
        change = update_profile(contact_id, {"name": "Nguyễn Văn An"}, REQUESTER)
    assert change.correction_id is not None
    page = client.get(f"/admin/privacy/{change.correction_id}").get_data(as_text=True)
    assert "Nguyễn Văn An" in page and "Duyệt thay đổi" in page
    post(client, f"/admin/privacy/{change.correction_id}/approve", {"outcome": "CCCD khớp"})
    assert db.session.get(Contact, contact_id).name == "Nguyễn Văn An"


def test_the_outbox_shows_headers_and_the_html_in_a_sandboxed_frame(
    client: FlaskClient, admin: StaffUser
) -> None:
    raw = preview(
        only_vietnamese("Ưu đãi <b>", builtin_layouts()["promotion"].body),
        "promotions",
        sample_data("promotion"),
        Recipient(7, "an@example.com", "An", "vi", {}),
    )
    db.session.add(
        OutboxMessage(
            mail_from="thongbao@dcnet.vn",
            recipients=["an@example.com"],
            subject="[QC] Ưu đãi <b>",
            raw=raw,
        )
    )
    db.session.commit()
    listing = client.get("/admin/outbox").get_data(as_text=True)
    assert "[QC] Ưu đãi &lt;b&gt;" in listing and "an@example.com" in listing
    detail = client.get("/admin/outbox/1").get_data(as_text=True)
    assert 'sandbox=""' in detail and "srcdoc=" in detail and "List-Unsubscribe" in detail
    assert "<b>" not in detail.split("<body")[1].split('srcdoc="')[0]
    assert (
        db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "outbox.view"))
        is not None
    )


def test_staff_accounts_and_settings(app: Flask, client: FlaskClient, admin: StaffUser) -> None:
    created = post(
        client,
        "/admin/staff",
        {"email": "Sale@Example.com", "name": "Sale", "role": "staff_in_charge"},
    )
    text = created.get_data(as_text=True)
    password = text.split('data-testid="new-password">')[1].split("<")[0]
    assert len(password) >= 12
    again = post(client, "/admin/staff", {"email": "sale@example.com", "role": "staff_in_charge"})
    assert again.status_code == 409
    assert (
        post(client, "/admin/staff", {"email": "x@example.com", "role": "god"}).status_code == 422
    )
    user = db.session.scalar(db.select(StaffUser).where(StaffUser.email == "sale@example.com"))
    post(client, f"/admin/staff/{user.id}/deactivate")
    db.session.refresh(user)
    assert user.active is False
    post(client, f"/admin/staff/{admin.id}/deactivate")  # not oneself
    assert db.session.get(StaffUser, admin.id).active is True
    configure(app, SMTP_URL="smtp+starttls://mailer:s3cret-pass@relay.example.vn:587")
    settings = client.get("/admin/settings").get_data(as_text=True)
    assert "relay.example.vn:587" in settings and "s3cret-pass" not in settings
    assert "DCNET" in settings.upper() and "DKIM" in settings


def test_every_message_a_template_names_exists_in_both_languages() -> None:
    import re

    from notifier.infra.config import ROOT
    from tests.unit.test_translations import catalog, entries

    used = set()
    for page in (ROOT / "templates" / "admin").rglob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z0-9_.]+)'[,)]", page.read_text("utf-8")))
    assert len(used) > 250
    for locale in ("vi", "en"):
        translated = entries(catalog(locale))
        missing = sorted(key for key in used if (None, key) not in translated)
        assert not missing, locale
