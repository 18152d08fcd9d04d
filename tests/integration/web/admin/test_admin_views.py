"""Admin views: names instead of ids, the raw .eml of the outbox, the API docs link, languages."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import AuditEntry, Notice, OutboxMessage, StaffUser
from tests.integration.helpers import make_contact, start_campaign
from tests.integration.test_admin_support import post
from tests.integration.web.admin import test_admin_pages

client = test_admin_pages.client
admin = test_admin_pages.admin

RAW = (
    b"From: thongbao@dcnet.vn\r\nTo: an@example.com\r\nSubject: =?utf-8?b?R2lhIGjhuqFu?=\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n<script>alert(1)</script>\r\n"
)


def _audits(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == action)))


def test_the_notices_list_names_the_contact(client: FlaskClient, admin: StaffUser) -> None:
    contact_id = make_contact("an@example.com", name="Nguyễn Văn An")
    db.session.add(Notice(type="renewal", purpose_key="renewal", contact_id=contact_id,
                          idempotency_key="k1"))  # fmt: skip
    db.session.commit()
    page = client.get("/admin/notices").get_data(as_text=True)
    assert "Nguyễn Văn An · an@example.com" in page and f"#{contact_id}<" not in page
    assert _audits("notices.list")[0].details["ids"] == [contact_id]


def test_the_outbox_offers_the_raw_message_and_logs_the_download(
    client: FlaskClient, admin: StaffUser
) -> None:
    db.session.add(OutboxMessage(mail_from="thongbao@dcnet.vn", recipients=["an@example.com"],
                                 subject="Gia hạn", raw=RAW))  # fmt: skip
    db.session.commit()
    assert "/admin/outbox/1.eml" in client.get("/admin/outbox/1").get_data(as_text=True)
    response = client.get("/admin/outbox/1.eml")
    assert response.status_code == 200 and response.mimetype == "message/rfc822"
    assert response.data == RAW  # byte for byte, headers and all
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    assert [e.object_id for e in _audits("outbox.download")] == ["1"]
    assert client.get("/admin/outbox/2.eml").status_code == 404


def test_admin_pages_link_the_api_documents(client: FlaskClient, admin: StaffUser) -> None:
    page = client.get("/admin/").get_data(as_text=True)
    assert 'href="/api/v1/docs"' in page and 'href="/api/v1/openapi.json"' in page
    assert client.get("/api/v1/docs").status_code == 200


def test_the_language_buttons_say_which_language_they_are_in(
    client: FlaskClient, admin: StaffUser
) -> None:
    page = client.get("/admin/").get_data(as_text=True)
    assert 'value="vi" lang="vi"' in page and 'value="en" lang="en"' in page


def test_htmx_swaps_the_inside_of_each_live_region_so_it_is_announced(
    client: FlaskClient, admin: StaffUser
) -> None:
    make_contact("an@example.com", grants=("promotions",))
    new = client.get("/admin/campaigns/new").get_data(as_text=True)
    assert '<div id="audience" class="audience" aria-live="polite">' in new
    assert 'hx-target="#audience" hx-swap="innerHTML"' in new
    editor = client.get("/admin/templates/new").get_data(as_text=True)
    assert '<div id="preview" aria-live="polite">' in editor
    assert 'hx-target="#preview" hx-swap="innerHTML"' in editor
    campaign_id = start_campaign("promotion", "promotions")
    show = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'id="progress" aria-live="polite"' in show and 'hx-swap="outerHTML"' not in show
    # What the server sends back is only the inside: the region itself is never replaced.
    fragments = [
        post(client, "/admin/campaigns/audience", {"purpose_key": "promotions"}),
        post(client, "/admin/templates/preview", test_admin_pages._template_form()),
        client.get(f"/admin/campaigns/{campaign_id}/progress"),
    ]
    for response in fragments:
        text = response.get_data(as_text=True)
        assert response.status_code == 200 and "aria-live" not in text, text[:300]


def test_no_admin_table_has_an_empty_header_cell(client: FlaskClient, admin: StaffUser) -> None:
    for path in ("/admin/staff", "/admin/notices", "/admin/templates/new", "/admin/contacts"):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<th[^>]*>\s*</th>", page), path
