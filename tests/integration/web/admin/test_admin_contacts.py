"""Contact pages: search, view, edit, phone refusal, export and import, each leaving audit rows."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.infra.extensions import db
from notifier.models import (
    AuditEntry,
    ConsentEvent,
    ConsentSource,
    Contact,
    StaffUser,
    SystemMail,
    SystemMailKind,
    utcnow,
)
from tests.integration.helpers import make_contact
from tests.integration.public_helpers import preferences_token
from tests.integration.test_admin_support import (
    browser,
    make_staff,
    post,
    sign_in,
)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Requests that do not share flask.g (see test_admin_support.Browser)."""
    return browser(app)


def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == action)))


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> StaffUser:
    user = make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(client, "admin@example.com")
    return user


def test_search_view_and_export_are_audited(client: FlaskClient, admin: StaffUser) -> None:
    an = make_contact(
        "an@example.com", grants=("promotions",), name="Nguyễn Văn An", phone="0903 111 222"
    )
    make_contact("binh@example.com", name="Lê Bình")
    page = client.get("/admin/contacts?q=nguyễn").get_data(as_text=True)
    assert "Nguyễn Văn An" in page and "Lê Bình" not in page
    searched = _audit("contacts.search")[-1]
    assert searched.actor == f"staff:{admin.id}" and searched.details["ids"] == [an]
    assert searched.details["query"] == "nguyễn" and searched.at is not None
    filtered = client.get("/admin/contacts?purpose=promotions&status=granted").get_data(
        as_text=True
    )
    assert "Nguyễn Văn An" in filtered and "Lê Bình" not in filtered
    client.get(f"/admin/contacts/{an}")
    viewed = _audit("contacts.view")[-1]
    assert viewed.object_id == str(an) and "consent" in viewed.details["shown"]
    exported = client.get("/admin/contacts/export.csv?q=an@")
    body = exported.get_data(as_text=True)
    assert exported.mimetype == "text/csv" and body.startswith("\ufeffid,name,email,phone")
    assert "an@example.com" in body and "binh@example.com" not in body
    assert _audit("contacts.export")[-1].details["rows"] == 1
    page = client.get(f"/admin/audit?action=contacts.view&actor=staff:{admin.id}")
    text = page.get_data(as_text=True)
    assert "contacts.view" in text and "contacts.export</code>" not in text


def test_contact_page_shows_the_consent_timeline_with_evidence(
    client: FlaskClient, admin: StaffUser
) -> None:
    contact_id = make_contact("an@example.com", grants=("promotions",), name="An")
    page = client.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    assert "Lịch sử đồng ý" in page and "Biểu mẫu web" in page and "203.0.113.7" in page
    notice = db.session.scalar(db.select(ConsentEvent)).notice_sha256
    assert notice is not None
    assert "Đang nhận" in page


def test_edit_checks_every_field_and_writes_nothing_on_a_bad_one(
    client: FlaskClient, admin: StaffUser
) -> None:
    contact_id = make_contact("an@example.com", name="An", phone="0903 111 222")
    bad = post(
        client,
        f"/admin/contacts/{contact_id}/edit",
        {"email": "an@example.com", "name": "An\r\nBcc: x@y", "phone": "call me"},
    )
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Điện thoại" in text and "Họ tên" in text
    contact = db.session.get(Contact, contact_id)
    db.session.refresh(contact)
    assert contact.name == "An" and contact.phone == "0903 111 222"
    assert not _audit("contacts.edit")
    good = post(
        client,
        f"/admin/contacts/{contact_id}/edit",
        {
            "email": "an@example.com",
            "name": "Nguyễn An",
            "phone": "0903 111 333",
            "tags": "vip, hanoi",
            "locale": "en",
        },
    )
    assert good.status_code == 302
    db.session.refresh(contact)
    assert (contact.name, contact.phone, contact.locale) == ("Nguyễn An", "0903 111 333", "en")
    assert contact.tag_names == ["hanoi", "vip"]
    assert set(_audit("contacts.edit")[-1].details["fields"]) >= {"name", "phone", "tags"}


@pytest.mark.parametrize("profile_name", ["caycanhhoanggia"])
def test_a_role_cannot_edit_a_field_it_cannot_see(app: Flask, client: FlaskClient) -> None:
    contact_id = make_contact("an@example.com", name="An", deal={"cost": "1"})
    make_staff("cskh@example.com", "customer_care")
    sign_in(client, "cskh@example.com")
    response = post(client, f"/admin/contacts/{contact_id}/edit", {"deal": "x", "name": "B"})
    assert response.status_code == 403
    assert db.session.get(Contact, contact_id).name == "An"


def test_a_phone_refusal_withdraws_consent_with_the_staff_member_as_evidence(
    client: FlaskClient, admin: StaffUser
) -> None:
    contact_id = make_contact("an@example.com", grants=("promotions", "events"), name="An")
    response = post(
        client,
        f"/admin/contacts/{contact_id}/refusal",
        {"purposes": ["promotions"], "note": "gọi hotline 9:30"},
    )
    assert response.status_code == 302
    states = consent.states(contact_id)
    assert states["promotions"] == "withdrawn" and states["events"] == "granted"
    event = consent.history(contact_id)[-1]
    assert (event.source, event.staff_id) == ("phone", admin.id)
    assert event.evidence["note"] == "gọi hotline 9:30"
    mails = db.session.scalars(db.select(SystemMail)).all()
    assert [m.kind for m in mails] == [SystemMailKind.REFUSAL]
    # A second call about the same purpose changes nothing and sends no second confirmation.
    post(client, f"/admin/contacts/{contact_id}/refusal", {"purposes": ["promotions"]})
    assert len(db.session.scalars(db.select(SystemMail)).all()) == 1
    assert len(_audit("consent.record_refusal")) == 2
    page = client.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    assert "Điện thoại" in page and "admin@example.com" in page


def test_a_refusal_for_an_unknown_purpose_is_refused(client: FlaskClient, admin: StaffUser) -> None:
    contact_id = make_contact("an@example.com", grants=("promotions",))
    post(client, f"/admin/contacts/{contact_id}/refusal", {"purposes": ["nope"]})
    assert consent.states(contact_id)["promotions"] == "granted"
    assert db.session.scalar(db.select(db.func.count()).select_from(SystemMail)) == 0


def test_import_preview_then_run_with_a_per_row_error_report(
    client: FlaskClient, admin: StaffUser
) -> None:
    csv_text = "email,name,phone\nan@example.com,An,0903 111 222\nnot-an-address,Bình,\n"
    upload = post(
        client,
        "/admin/contacts/import",
        {"file": (io.BytesIO(csv_text.encode()), "khach.csv")},
        content_type="multipart/form-data",
    )
    page = upload.get_data(as_text=True)
    assert upload.status_code == 200 and "khach.csv" in page and "not-an-address" in page
    assert db.session.scalar(db.select(db.func.count()).select_from(Contact)) == 0
    token = page.split('name="upload" type="hidden" value="')[1].split('"')[0]
    result = post(client, "/admin/contacts/import/run", {"upload": token}, follow_redirects=True)
    text = result.get_data(as_text=True)
    assert 'data-testid="import-created">1<' in text and 'data-testid="import-failed">1<' in text
    assert "not-an-address" in text  # the row error names the row
    assert db.session.scalar(db.select(Contact.name)) == "An"
    assert post(client, "/admin/contacts/import/run", {"upload": token}).status_code == 404
    assert (
        post(client, "/admin/contacts/import/run", {"upload": "../../etc/passwd"}).status_code
        == 404
    )


def test_an_import_with_a_bad_header_writes_nothing(client: FlaskClient, admin: StaffUser) -> None:
    upload = post(
        client,
        "/admin/contacts/import",
        {"file": (io.BytesIO(b"mail,name\nx@example.com,X\n"), "bad.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 422 and "email" in upload.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Contact)) == 0


def _states(html: str, element: str) -> dict[str, str]:
    """Each purpose's state word, from the elements marked data-purpose on a page."""
    found = {}
    pattern = rf'<{element}[^>]*\bdata-purpose="(\w+)"[^>]*>(.*?)</{element}>'
    for key, inner in re.findall(pattern, html, re.S):
        text = " ".join(re.sub(r"<[^>]+>", " ", unescape(inner)).split())
        words = [w for w in ("Đang nhận", "Không nhận", "Chờ xác nhận qua email") if w in text]
        assert len(words) == 1, (key, text)
        found[key] = words[0]
    return found


def test_staff_see_the_state_each_customer_sees(client: FlaskClient, admin: StaffUser) -> None:
    """Issue #14: "Chưa đồng ý" in the admin for a contract purpose the customer saw as "Đang
    nhận". The contact page, the list and the customer's own page now agree for every purpose."""
    yesterday = utcnow().date() - timedelta(days=1)
    customer = make_contact("an@example.com", grants=("promotions",), name="An")
    consent.withdraw(customer, ["sales_contact"], consent.Evidence(source=ConsentSource.ONE_CLICK))
    signup = consent.Evidence(source=ConsentSource.SIGNUP, notice_version="1", ip="203.0.113.9")
    consent.request_confirmation(customer, "events", signup)
    ended = make_contact("binh@example.com", name="Bình", contract_ends_on=yesterday.isoformat())
    db.session.commit()
    expected = {
        customer: {
            "promotions": "Đang nhận", "events": "Chờ xác nhận qua email",
            "renewal": "Đang nhận", "sales_contact": "Không nhận",
        },
        ended: {
            "promotions": "Không nhận", "events": "Không nhận",
            "renewal": "Không nhận", "sales_contact": "Không nhận",
        },
    }  # fmt: skip
    listing = client.get("/admin/contacts").get_data(as_text=True)
    for contact_id, states in expected.items():
        detail = client.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
        own = client.get(f"/p/{preferences_token(contact_id)}").get_data(as_text=True)
        row = listing[listing.index(f'href="/admin/contacts/{contact_id}"') :]
        row = row[: row.index("</tr>")]
        assert _states(detail, "tr") == states
        assert _states(row, "li") == states
        assert _states(own, "div") == states
    # Why not, for staff: the reason the claim would give.
    detail = client.get(f"/admin/contacts/{ended}").get_data(as_text=True)
    assert "Hợp đồng đã kết thúc" in detail and "Chưa đồng ý" in detail


def test_a_search_matching_many_counts_only_up_to_its_limit(
    client: FlaskClient, admin: StaffUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A term that matches most contacts is not counted whole (seconds at a million): the page
    says "more than N" and pages through N; a narrower term is counted exactly."""
    from notifier.contacts import directory

    monkeypatch.setattr(directory, "COUNT_LIMIT", 3)
    monkeypatch.setattr(directory, "PAGE_SIZE", 2)
    for n in range(5):
        make_contact(f"khach{n}@hoalan.vn", name=f"Khách {n}")
    page = client.get("/admin/contacts?q=hoalan")
    html = unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and "Hơn 3 liên hệ khớp" in html
    assert "Trang 1/2" in html  # 3 counted, 2 a page
    last = unescape(client.get("/admin/contacts?q=hoalan&page=9").get_data(as_text=True))
    assert "Trang 2/2" in last and "khach2@hoalan.vn" in last and "khach4@hoalan.vn" not in last
    exact = unescape(client.get("/admin/contacts?q=khach4").get_data(as_text=True))
    assert "1 liên hệ" in exact and "Hơn" not in exact
    entry = next(e for e in _audit("contacts.search") if e.details.get("query") == "hoalan")
    assert entry.details["more"] is True and entry.details["total"] == 3
