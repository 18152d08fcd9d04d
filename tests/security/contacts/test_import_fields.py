"""Issue #13 item 3: a staff CSV import writes, compares and matches only what the role may."""

from __future__ import annotations

import io
import re
import tomllib
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from notifier.cli import main
from notifier.infra.config import profile_path
from notifier.infra.extensions import db
from notifier.models import Contact
from tests.integration.helpers import make_contact
from tests.integration.test_admin_support import browser, make_staff, post, sign_in

COUNT = re.compile(r'data-testid="import-(\w+)">(\d+)<')


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


def _contact(contact_id: int) -> Contact:
    db.session.expire_all()
    contact = db.session.get(Contact, contact_id)
    assert contact is not None
    return contact


def _upload(client: FlaskClient, csv_text: str) -> tuple[str, str]:
    """The preview page and the upload token, as the staff member's browser sees them."""
    response = post(
        client,
        "/admin/contacts/import",
        {"file": (io.BytesIO(csv_text.encode()), "khach.csv")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:500]
    return page, page.split('name="upload" type="hidden" value="')[1].split('"')[0]


def _import(client: FlaskClient, csv_text: str) -> dict[str, int]:
    _, token = _upload(client, csv_text)
    page = post(
        client, "/admin/contacts/import/run", {"upload": token}, follow_redirects=True
    ).get_data(as_text=True)
    return {name: int(value) for name, value in COUNT.findall(page)}


@pytest.fixture
def marketing(client: FlaskClient) -> None:
    make_staff("mkt@example.com", "marketing")
    sign_in(client, "mkt@example.com")


def test_marketing_cannot_change_hidden_fields_by_import(
    client: FlaskClient, marketing: None
) -> None:
    an = make_contact("an@example.com", name="An", phone="0903 111 222", national_id="012345678")
    page, _ = _upload(
        client, "email,name,phone,national_id\nan@example.com,An Mới,0999 999 999,987654321\n"
    )
    # Named in the preview, before anything is written.
    banner = page.split('data-testid="import-refused">')[1].split("</p>")[0]
    assert "phone" in banner and "national_id" in banner and "name" not in banner
    assert _contact(an).name == "An"
    counts = _import(
        client, "email,name,phone,national_id\nan@example.com,An Mới,0999 999 999,987654321\n"
    )
    assert counts["updated"] == 1 and counts["failed"] == 0
    contact = _contact(an)
    assert contact.name == "An Mới"  # the permitted column is written
    assert (contact.phone, contact.national_id) == ("0903 111 222", "012345678")


def test_a_guessed_hidden_value_is_not_confirmed(client: FlaskClient, marketing: None) -> None:
    make_contact("an@example.com", name="An", phone="0903 111 222")
    right = _import(client, "email,phone\nan@example.com,0903 111 222\n")
    wrong = _import(client, "email,phone\nan@example.com,0900 000 000\n")
    assert right == wrong, "the import answered differently for the right and a wrong guess"
    assert _contact(1).phone == "0903 111 222"


def test_marketing_cannot_move_an_address_by_external_ref(
    client: FlaskClient, marketing: None
) -> None:
    victim = make_contact("victim@example.com", name="Victim", external_ref="KH-001")
    _import(client, "email,external_ref\nattacker@example.com,KH-001\n")
    contact = _contact(victim)
    assert (contact.email, contact.external_ref) == ("victim@example.com", "KH-001")
    created = db.session.scalar(db.select(Contact).where(Contact.email == "attacker@example.com"))
    assert created is not None and created.external_ref is None


@pytest.fixture
def profile_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    """dcnet plus a registrar role that sees external_ref and imports, but may not edit email."""
    text = profile_path("dcnet").read_text("utf-8")
    assert "registrar" not in tomllib.loads(text)
    path = Path(tmp_path_factory.mktemp("profile")) / "registrar.toml"
    path.write_text(
        text
        + '\n[[roles]]\nkey = "registrar"\nname.vi = "Đăng ký"\nname.en = "Registrar"\n'
        + 'permissions = ["contacts.view", "contacts.import"]\n'
        + 'contact_fields = ["email", "name", "external_ref"]\n',
        "utf-8",
    )
    return str(path)


def test_a_role_that_may_not_edit_email_cannot_move_one_by_external_ref(
    client: FlaskClient,
) -> None:
    victim = make_contact("victim@example.com", external_ref="KH-001")
    make_staff("reg@example.com", "registrar")
    sign_in(client, "reg@example.com")
    _, token = _upload(client, "email,external_ref\nattacker@example.com,KH-001\n")
    page = post(
        client, "/admin/contacts/import/run", {"upload": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert 'data-testid="import-failed">1<' in page
    assert "không được đổi email" in page
    assert _contact(victim).email == "victim@example.com"
    assert db.session.scalar(db.select(db.func.count()).select_from(Contact)) == 1


def test_the_cli_import_is_an_operator_tool_with_every_field(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    an = make_contact("an@example.com", phone="0903 111 222")
    path = tmp_path / "ops.csv"
    path.write_text("email,phone,national_id\nan@example.com,0999 999 999,987654321\n", "utf-8")
    result = runner.invoke(main, ["contacts", "import", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (_contact(an).phone, _contact(an).national_id) == ("0999 999 999", "987654321")
