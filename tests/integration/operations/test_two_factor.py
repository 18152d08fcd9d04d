"""Staff two-step verification through the real pages: enrolment, codes, recovery codes, reset."""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from notifier.cli import main
from notifier.infra.extensions import db
from notifier.models import AuditEntry, StaffUser
from notifier.models.staff import RecoveryCode
from notifier.operations.staff import create_staff
from tests.integration.test_admin_support import (
    PASSWORD,
    browser,
    csrf_token,
    current_code,
    make_staff,
    post,
    sign_in,
)

SECRET = re.compile(r'data-testid="totp-secret">([A-Z2-7 ]+)<')
CODES = re.compile(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


def password_step(client: FlaskClient, email: str, password: str = PASSWORD) -> str:
    """The first step only; returns where it sends the browser."""
    token = csrf_token(client)
    response = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return str(response.headers["Location"])


def code_step(client: FlaskClient, code: str, path: str = "/admin/two-factor") -> object:
    return client.post(path, data={"code": code, "csrf_token": csrf_token(client, path)})


def enrol_through_the_page(client: FlaskClient, email: str) -> tuple[str, list[str]]:
    assert password_step(client, email).endswith("/admin/two-factor/enrol")
    page = client.get("/admin/two-factor/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code, drawn here, no outside service
    secret = SECRET.search(page)[1].replace(" ", "")  # type: ignore[index]
    response = code_step(client, pyotp.TOTP(secret).now(), "/admin/two-factor/enrol")
    assert response.status_code == 200  # type: ignore[attr-defined]
    codes = CODES.findall(response.get_data(as_text=True))  # type: ignore[attr-defined]
    return secret, codes


def actions(staff_id: int) -> list[str]:
    entries = db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.object_type == "staff").order_by(AuditEntry.id)
    )
    return [e.action for e in entries if e.object_id == str(staff_id)]


def sign_out(client: FlaskClient) -> None:
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})


def test_an_admin_enrols_right_after_the_password_and_nothing_opens_before(
    app: Flask, client: FlaskClient
) -> None:
    user, _ = create_staff("admin@example.com", "admin", password=PASSWORD)
    assert password_step(client, "admin@example.com").endswith("/admin/two-factor/enrol")
    for path in ("/admin/", "/admin/contacts", "/admin/staff", "/admin/password"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    page = client.get("/admin/two-factor/enrol").get_data(as_text=True)
    again = client.get("/admin/two-factor/enrol").get_data(as_text=True)
    secret = SECRET.search(page)[1].replace(" ", "")  # type: ignore[index]
    assert SECRET.search(again)[1].replace(" ", "") == secret  # type: ignore[index]
    wrong = code_step(client, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111",
                      "/admin/two-factor/enrol")  # fmt: skip
    assert wrong.status_code == 422 and "Mã không đúng" in wrong.get_data(as_text=True)  # type: ignore[attr-defined]
    assert client.get("/admin/").status_code == 302

    response = code_step(client, pyotp.TOTP(secret).now(), "/admin/two-factor/enrol")
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    codes = CODES.findall(page)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/admin/").status_code == 200
    db.session.refresh(user)
    assert user.totp_enrolled_at is not None and user.totp_secret == secret
    stored = db.session.scalars(db.select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and all(h.startswith("$argon2id$") for h in stored)
    assert not any(code in h for code in codes for h in stored)
    assert actions(user.id) == ["2fa.enrolled"]
    # Shown once: the page of codes cannot be asked for again.
    assert client.get("/admin/two-factor/enrol").status_code == 302


def test_sign_in_with_the_code_the_enrolled_secret_gives(app: Flask, client: FlaskClient) -> None:
    user = make_staff("admin@example.com", "admin")
    assert password_step(client, "admin@example.com").endswith("/admin/two-factor")
    assert client.get("/admin/contacts").status_code == 302
    code = pyotp.TOTP(user.totp_secret).now()
    response = code_step(client, f"{code[:3]} {code[3:]}")  # as an app shows it
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")  # type: ignore[attr-defined]
    assert client.get("/admin/contacts").status_code == 200
    assert actions(user.id) == ["2fa.code_accepted"]


def test_a_wrong_code_is_refused_and_audited(app: Flask, client: FlaskClient) -> None:
    user = make_staff("admin@example.com", "admin")
    password_step(client, "admin@example.com")
    good = pyotp.TOTP(user.totp_secret)
    wrong = next(c for c in ("123456", "654321", "111111") if not good.verify(c, valid_window=1))
    response = code_step(client, wrong)
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert "Mã không đúng hoặc đã được dùng" in response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert client.get("/admin/").status_code == 302
    db.session.refresh(user)
    assert user.failed_logins == 1
    assert actions(user.id) == ["2fa.code_refused"]
    # The right code still works, and clears the count.
    assert code_step(client, current_code("admin@example.com")).status_code == 302  # type: ignore[attr-defined]
    db.session.refresh(user)
    assert user.failed_logins == 0


def test_a_code_is_never_accepted_twice(app: Flask, client: FlaskClient) -> None:
    user = make_staff("admin@example.com", "admin")
    code = pyotp.TOTP(user.totp_secret).now()
    sign_in(client, "admin@example.com", code=code)
    other = browser(app)
    password_step(other, "admin@example.com")
    replay = code_step(other, code)
    assert replay.status_code == 401  # type: ignore[attr-defined]
    assert other.get("/admin/").status_code == 302
    assert actions(user.id) == ["2fa.code_accepted", "2fa.code_refused"]


def test_a_recovery_code_works_once(app: Flask, client: FlaskClient) -> None:
    create_staff("admin@example.com", "admin", password=PASSWORD)
    _, codes = enrol_through_the_page(client, "admin@example.com")
    sign_out(client)
    password_step(client, "admin@example.com")
    typed = codes[3].upper().replace("-", " ")  # read off paper, typed loosely
    response = code_step(client, typed)
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert client.get("/admin/").status_code == 200
    user = db.session.scalar(db.select(StaffUser))
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "2fa.recovery_used"))
    assert entry is not None and entry.details == {"left": 9} and entry.object_id == str(user.id)
    sign_out(client)
    password_step(client, "admin@example.com")
    assert code_step(client, codes[3]).status_code == 401  # type: ignore[attr-defined]
    assert client.get("/admin/").status_code == 302
    assert code_step(client, codes[4]).status_code == 302  # type: ignore[attr-defined]


def test_a_role_without_the_requirement_signs_in_with_the_password(
    app: Flask, client: FlaskClient
) -> None:
    make_staff("mkt@example.com", "marketing")
    assert password_step(client, "mkt@example.com").endswith("/admin/")
    assert client.get("/admin/campaigns").status_code == 200
    assert client.get("/admin/two-factor/enrol").status_code == 302


def test_an_admin_resets_another_staff_members_second_factor(
    app: Flask, client: FlaskClient
) -> None:
    boss = make_staff("boss@example.com", "admin")
    lost = make_staff("lost.phone@example.com", "admin")
    lost_session = browser(app)
    sign_in(lost_session, "lost.phone@example.com")
    sign_in(client, "boss@example.com")
    db.session.add(RecoveryCode(staff_id=lost.id, code_hash="$argon2id$x"))
    db.session.commit()
    assert "lost.phone@example.com" in client.get("/admin/staff").get_data(as_text=True)

    response = post(client, f"/admin/staff/{lost.id}/two-factor/reset")
    assert response.status_code == 302  # type: ignore[attr-defined]
    db.session.refresh(lost)
    assert lost.totp_secret is None and lost.totp_enrolled_at is None
    assert db.session.scalar(db.select(db.func.count()).select_from(RecoveryCode)) == 0
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "2fa.reset"))
    assert entry is not None and (entry.actor, entry.object_id) == (
        f"staff:{boss.id}",
        str(lost.id),
    )
    # The session opened with the old factor ends; the next sign-in enrols again.
    assert lost_session.get("/admin/").status_code == 302
    assert password_step(lost_session, "lost.phone@example.com").endswith("/two-factor/enrol")

    post(client, f"/admin/staff/{boss.id}/two-factor/reset")  # not one's own
    db.session.refresh(boss)
    assert boss.totp_enrolled_at is not None


def test_only_staff_managers_may_reset(app: Flask, client: FlaskClient) -> None:
    admin = make_staff("admin@example.com", "admin")
    make_staff("mkt@example.com", "marketing")
    sign_in(client, "mkt@example.com")
    response = post(client, f"/admin/staff/{admin.id}/two-factor/reset")
    assert response.status_code == 403  # type: ignore[attr-defined]
    db.session.refresh(admin)
    assert admin.totp_enrolled_at is not None
    assert actions(admin.id) == []


def test_pages_are_in_english_for_an_english_speaking_admin(
    app: Flask, client: FlaskClient
) -> None:
    user = make_staff("admin@example.com", "admin")
    user.locale = "en"
    db.session.commit()
    password_step(client, "admin@example.com")
    page = client.get("/admin/two-factor").get_data(as_text=True)
    assert "Two-step verification" in page and "recovery codes" in page


def test_staff_create_tells_the_operator_about_enrolment(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(main, args=["staff", "create", "boss@example.com", "--role", "admin"])
    assert result.exit_code == 0, result.output
    assert "two-step verification: required for this role" in result.output
    assert "password: " in result.output
    result = runner.invoke(main, args=["staff", "create", "m@example.com", "--role", "marketing"])
    assert result.exit_code == 0 and "two-step" not in result.output
