"""Admin pages speak the staff member's language, also for the problems services report."""

from __future__ import annotations

import io

from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import StaffUser
from notifier.web.admin.problems import PATTERNS
from tests.integration.test_admin_support import post
from tests.integration.web.admin import test_admin_pages

# The signed-in administrator of the other admin page tests.
client = test_admin_pages.client
admin = test_admin_pages.admin


def _upload(client: FlaskClient, csv_text: str) -> str:
    response = post(
        client,
        "/admin/contacts/import",
        {"file": (io.BytesIO(csv_text.encode()), "khach.csv")},
        content_type="multipart/form-data",
    )
    return str(response.get_data(as_text=True))


def test_a_rejected_staff_form_is_in_vietnamese_and_keeps_what_was_typed(
    client: FlaskClient, admin: StaffUser
) -> None:
    response = post(
        client, "/admin/staff", {"email": "lan@@example", "name": "Trần Thị Lan", "role": "admin"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "địa chỉ email không hợp lệ" in page and "The email address" not in page.split("(")[0]
    assert 'value="lan@@example"' in page and 'value="Trần Thị Lan"' in page
    assert '<option value="admin" selected>' in page
    assert db.session.scalar(db.select(db.func.count()).select_from(StaffUser)) == 1


def test_the_same_problem_reads_in_english_for_an_english_session(
    client: FlaskClient, admin: StaffUser
) -> None:
    client.get("/admin/?lang=en")
    page = post(client, "/admin/staff", {"email": "lan@@example", "name": "", "role": "admin"})
    assert "the email address is not valid" in page.get_data(as_text=True)


def test_import_refusals_and_row_problems_are_in_vietnamese(
    client: FlaskClient, admin: StaffUser
) -> None:
    refused = _upload(client, "mail,name\nx@example.com,X\n")
    assert "dòng tiêu đề không có cột &#39;email&#39;" in refused
    assert "the header has no" not in refused
    staged = _upload(client, "email,phone\nan@example.com,abc\n")
    token = staged.split('name="upload" type="hidden" value="')[1].split('"')[0]
    result = post(client, "/admin/contacts/import/run", {"upload": token}, follow_redirects=True)
    text = result.get_data(as_text=True)
    assert "chỉ dùng chữ số, dấu cách và + ( ) -" in text and "use digits" not in text


def test_an_import_result_survives_a_reload(client: FlaskClient, admin: StaffUser) -> None:
    staged = _upload(client, "email,name\nan@example.com,An\n")
    token = staged.split('name="upload" type="hidden" value="')[1].split('"')[0]
    ran = post(client, "/admin/contacts/import/run", {"upload": token})
    assert ran.status_code == 303
    for _ in range(2):  # the first view and a reload
        page = client.get(ran.headers["Location"])
        assert page.status_code == 200
        assert 'data-testid="import-created">1<' in page.get_data(as_text=True)
    assert client.get("/admin/contacts/import/" + "0" * 32).status_code == 404
    assert client.get("/admin/contacts/import/..%2F..%2Fetc").status_code == 404


def test_every_problem_pattern_has_both_languages() -> None:
    from tests.unit.test_translations import catalog, entries

    for locale in ("vi", "en"):
        translated = entries(catalog(locale))
        for _, key in PATTERNS:
            assert (None, key) in translated, (locale, key)
