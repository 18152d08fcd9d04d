"""Admin access over HTTP: every route guarded, roles from the profile, CSRF, lockout, cookies."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient

from notifier import create_app
from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import segments
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import ConsentSource, OutboxMessage, PrivacyRequest, StaffUser, utcnow
from notifier.operations import staff
from notifier.privacy import requests as privacy
from tests.integration.helpers import committed, layout_template, make_contact, sample_data
from tests.integration.test_admin_support import (
    PASSWORD,
    browser,
    csrf_token,
    make_staff,
    sign_in,
)

# What the shipping department may open (caycanhhoanggia: contacts.view; name, phone, address).
SHIPPING_ALLOWED = {
    "admin.login",
    "admin.logout",
    "admin.language",
    "admin.password",
    "admin.home",
    "admin.contacts",
    "admin.contact",
}
# The second sign-in step guards itself: it serves only a session whose password was right.
OPEN_TO_ALL = {"admin.login", "admin.language", "admin.two_factor", "admin.two_factor_enrol"}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Requests that do not share flask.g (see test_admin_support.Browser)."""
    return browser(app)


def _world() -> dict[str, Any]:
    """One of every object a route can name, so each URL resolves to something real."""
    ads = next(p.key for p in profile().purposes if p.is_advertising)
    contact_id = make_contact(
        "lan.tran@example.com",
        grants=(ads,),
        name="Trần Thị Lan",
        phone="0901 234 567",
        address="12 Lê Lợi, Quận 1",
        deal={"cost": "450000000"},
        tags=["vip"],
    )
    template_id = layout_template("promotion", ads)
    campaign = campaigns.create_campaign(
        campaigns.CampaignInput(
            "Mùa xuân", "promotion", ads, template_id, data=sample_data("promotion")
        )
    )
    with committed():
        request = privacy.request_erasure(contact_id, privacy.Requester("203.0.113.9", "UA"))
    db.session.add(
        OutboxMessage(
            mail_from="a@x.vn",
            recipients=["lan.tran@example.com"],
            subject="Hello",
            raw=b"Subject: Hello\r\n\r\nHi\r\n",
        )
    )
    key = staff.create_api_key("billing", ["notices"])
    segment = segments.save_segment(
        segments.SegmentInput(
            "VIP", {"match": "all", "items": [{"field": "tag", "op": "has", "value": "vip"}]}
        ),
        staff_id=None,
    )
    db.session.commit()
    other = make_staff("other@example.com", "marketing")
    return {
        "contact_id": contact_id,
        "template_id": template_id,
        "campaign_id": campaign.id,
        "request_id": request.id,
        "message_id": 1,
        "key_id": key.key.id,
        "user_id": other.id,
        "token": "0" * 32,  # an import result
        "endpoint_id": 1,  # a webhook endpoint and delivery: the guard answers before any lookup
        "delivery_id": 1,
        "segment_id": segment.id,
        "key": "renewal",  # a notice type's reminder schedule: the guard answers before any lookup
    }


def _admin_routes(app: Flask, ids: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every admin route in the URL map."""
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("admin."):
                continue
            values = {name: ids[name] for name in rule.arguments if name in ids}
            for name in rule.arguments - values.keys():
                values[name] = sorted(rule._converters[name].items)[0]  # type: ignore[attr-defined]
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((rule.endpoint, method, url_for(rule.endpoint, **values)))
    return found


def test_every_admin_route_needs_a_signed_in_staff_member(app: Flask, client: FlaskClient) -> None:
    routes = _admin_routes(app, _world())
    assert len({endpoint for endpoint, _, _ in routes}) >= 35
    token = csrf_token(client)
    for endpoint, method, url in routes:
        if endpoint in OPEN_TO_ALL:
            continue
        response = client.open(url, method=method, data={"csrf_token": token})
        assert response.status_code == 302, (endpoint, method, response.status_code)
        assert "/admin/login" in response.headers["Location"], endpoint


def test_every_admin_view_names_its_permission(app: Flask) -> None:
    for endpoint, view in app.view_functions.items():
        if endpoint.startswith("admin.") and endpoint not in OPEN_TO_ALL:
            assert hasattr(view, "permission"), f"{endpoint} is not guarded by requires()"


@pytest.mark.parametrize("profile_name", ["caycanhhoanggia"])
def test_shipping_reaches_only_contacts_and_never_consent(app: Flask, client: FlaskClient) -> None:
    ids = _world()
    make_staff("giao.hang@example.com", "shipping", "Giao Hàng")
    sign_in(client, "giao.hang@example.com")
    token = csrf_token(client, "/admin/")
    for endpoint, method, url in _admin_routes(app, ids):
        if endpoint in (
            "admin.logout",
            "admin.login",
            "admin.two_factor",
            "admin.two_factor_enrol",
        ):
            continue
        response = client.open(url, method=method, data={"csrf_token": token})
        if endpoint in SHIPPING_ALLOWED:
            assert response.status_code in (200, 302), (endpoint, method, response.status_code)
        else:
            assert response.status_code == 403, (
                endpoint,
                method,
                response.get_data(as_text=True)[:300],
            )
    page = client.get(f"/admin/contacts/{ids['contact_id']}").get_data(as_text=True)
    assert "Trần Thị Lan" in page and "0901 234 567" in page and "12 Lê Lợi" in page
    for hidden in (
        "lan.tran@example.com",
        "450000000",
        "Lịch sử đồng ý",
        "vip",
        "Đã đồng ý",
        "Đang nhận",
        "web_form",
        "203.0.113",
    ):
        assert hidden not in page, hidden
    listing = client.get("/admin/contacts").get_data(as_text=True)
    assert "Trần Thị Lan" in listing and "lan.tran@example.com" not in listing
    # Searching a hidden field would reveal it one guess at a time: it matches nothing.
    by_email = client.get("/admin/contacts?q=lan.tran@").get_data(as_text=True)
    assert "Trần Thị Lan" not in by_email
    assert client.get("/admin/contacts?purpose=product_info&status=granted").status_code == 403
    nav = client.get("/admin/").get_data(as_text=True)
    assert "/admin/campaigns" not in nav and "/admin/templates" not in nav


@pytest.mark.parametrize("profile_name", ["caycanhhoanggia"])
def test_consulting_sees_deal_data_and_care_does_not(app: Flask, client: FlaskClient) -> None:
    contact_id = make_contact("mai@example.com", name="Mai", deal={"cost": "780000000"})
    make_staff("tu.van@example.com", "consulting_orders")
    make_staff("cskh@example.com", "customer_care")
    sign_in(client, "tu.van@example.com")
    assert "780000000" in client.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    other = app.test_client()
    sign_in(other, "cskh@example.com")
    page = other.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    assert "mai@example.com" in page and "780000000" not in page


def test_a_post_without_the_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    ids = _world()
    make_staff("admin@example.com", "admin")
    sign_in(client, "admin@example.com")
    for url in (
        "/admin/logout",
        f"/admin/contacts/{ids['contact_id']}/refusal",
        f"/admin/campaigns/{ids['campaign_id']}/cancel",
        "/admin/staff",
    ):
        response = client.post(url, data={"purposes": "advertising", "email": "x@example.com"})
        assert response.status_code == 400, url
    assert client.get("/admin/").status_code == 200  # still signed in: logout was refused
    assert campaigns.get_campaign(ids["campaign_id"]).status == "draft"
    assert db.session.scalar(db.select(db.func.count()).select_from(StaffUser)) == 2
    fresh = app.test_client()
    response = fresh.post("/admin/login", data={"email": "admin@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert fresh.get("/admin/").status_code == 302  # not signed in


def test_lockout_after_five_wrong_passwords_even_with_the_right_one(
    app: Flask, client: FlaskClient
) -> None:
    make_staff("admin@example.com", "admin")
    for _ in range(5):
        token = csrf_token(client)
        response = client.post(
            "/admin/login",
            data={"email": "admin@example.com", "password": "wrong", "csrf_token": token},
        )
        assert response.status_code == 401
    token = csrf_token(client)
    response = client.post(
        "/admin/login",
        data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 401
    assert "tạm khóa" in response.get_data(as_text=True)
    user = db.session.scalar(db.select(StaffUser))
    assert user.locked_until is not None and user.locked_until > utcnow()


def test_one_address_guessing_across_accounts_is_rate_limited(
    app: Flask, client: FlaskClient
) -> None:
    make_staff("real@example.com", "admin")
    for n in range(20):
        token = csrf_token(client)
        client.post(
            "/admin/login",
            data={"email": f"guess{n}@example.com", "password": "x", "csrf_token": token},
        )
    token = csrf_token(client)
    response = client.post(
        "/admin/login",
        data={"email": "real@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 401 and "tạm khóa" in response.get_data(as_text=True)
    # Another address is not affected, and the account itself was never locked.
    other = app.test_client()
    token = csrf_token(other)
    response = other.post(
        "/admin/login",
        data={"email": "real@example.com", "password": PASSWORD, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )
    assert response.status_code == 302


def test_session_cookie_is_secure_httponly_and_samesite(
    app: Flask, database_url: str, redis_url: str
) -> None:
    """An installation served over https (the fixture app cleared the database and Redis)."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "s",
            "PUBLIC_BASE_URL": "https://mail.example.vn",
        }
    )
    with app.app_context():
        make_staff("admin@example.com", "admin")
        client = app.test_client()
        token = csrf_token(client)
        response = client.post(
            "/admin/login",
            data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": token},
        )
        cookie = response.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        page = client.get("/admin/")
        assert page.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        db.session.remove()


def test_password_change(app: Flask, client: FlaskClient) -> None:
    make_staff("admin@example.com", "admin")
    sign_in(client, "admin@example.com")
    token = csrf_token(client, "/admin/password")
    bad = client.post(
        "/admin/password",
        data={"current": "wrong", "new": "short", "repeated": "other", "csrf_token": token},
    )
    text = bad.get_data(as_text=True)
    assert "mật khẩu hiện tại không đúng" in text and "cần từ 12 đến 200 ký tự" in text
    token = csrf_token(client, "/admin/password")
    good = client.post(
        "/admin/password",
        data={
            "current": PASSWORD,
            "new": "a much longer secret",
            "repeated": "a much longer secret",
            "csrf_token": token,
        },
    )
    assert good.status_code == 302
    other = app.test_client()
    token = csrf_token(other)
    old = other.post(
        "/admin/login",
        data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert old.status_code == 401
    sign_in(other, "admin@example.com", "a much longer secret")


def test_language_is_a_per_user_choice(app: Flask, client: FlaskClient) -> None:
    user = make_staff("admin@example.com", "admin")
    sign_in(client, "admin@example.com")
    assert "Chiến dịch" in client.get("/admin/").get_data(as_text=True)
    client.post("/admin/language", data={"lang": "en", "csrf_token": csrf_token(client, "/admin/")})
    assert db.session.get(StaffUser, user.id).locale == "en"
    other = app.test_client()
    sign_in(other, "admin@example.com")  # a new session picks up the saved choice
    page = other.get("/admin/").get_data(as_text=True)
    assert "Campaigns" in page and 'lang="en"' in page


def test_refusal_by_source_phone_is_not_shown_to_a_role_without_consent(
    app: Flask, client: FlaskClient
) -> None:
    """DCNET marketing sees consent but not phone numbers; its search cannot use them either."""
    make_contact("khach@example.com", name="Khách", phone="0912 000 111")
    make_staff("mkt@example.com", "marketing")
    sign_in(client, "mkt@example.com")
    listing = client.get("/admin/contacts?q=0912").get_data(as_text=True)
    assert "khach@example.com" not in listing
    assert "0912 000 111" not in client.get("/admin/contacts").get_data(as_text=True)
    assert ConsentSource.PHONE.value == "phone"
    assert db.session.scalar(db.select(db.func.count()).select_from(PrivacyRequest)) == 0
