"""Rate limits as an attacker meets them: sign-in guessing, hammering public pages, one API key
flooding the API. Limits live in Redis, so a second web process sees the same count."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from notifier import create_app
from notifier.infra.settings import settings_of
from tests.conftest import configure
from tests.integration.test_admin_support import PASSWORD, csrf_token, make_staff
from tests.integration.test_api_support import bearer, issue_key

OTHER_ADDRESS = {"REMOTE_ADDR": "198.51.100.9"}


def _sign_in(client: FlaskClient, password: str) -> int:
    token = csrf_token(client)
    return client.post(
        "/admin/login",
        data={"email": "staff@example.com", "password": password, "csrf_token": token},
    ).status_code


def test_sign_in_attempts_are_limited_per_address(app: Flask, client: FlaskClient) -> None:
    configure(app, LOGIN_RATE_LIMIT="3 per minute")
    make_staff("staff@example.com", "admin")
    assert [_sign_in(client, "wrong") for _ in range(4)] == [401, 401, 401, 429]
    token = csrf_token(client)
    page = client.post("/admin/login", data={"email": "x@example.com", "csrf_token": token})
    assert "Quá nhiều lần đăng nhập" in page.get_data(as_text=True)
    # Even the right password waits: the limit is on attempts, not on failures.
    assert _sign_in(client, PASSWORD) == 429


def test_public_pages_are_limited_per_address(app: Flask, client: FlaskClient) -> None:
    configure(app, PUBLIC_RATE_LIMIT="5 per minute")
    codes = [client.get("/subscribe").status_code for _ in range(6)]
    assert codes == [200, 200, 200, 200, 200, 429]
    limited = client.get("/subscribe")
    assert limited.status_code == 429 and "Quá nhiều yêu cầu" in limited.get_data(as_text=True)
    assert app.test_client().get("/subscribe", environ_base=OTHER_ADDRESS).status_code == 200
    assert client.get("/healthz").status_code == 200  # operators' probes are never limited


def test_an_api_key_is_limited_across_web_processes(app: Flask) -> None:
    configure(app, API_RATE_LIMIT=4, API_RATE_WINDOW=60)
    # A second application on the same Redis stands for another gunicorn worker or machine.
    same = settings_of(app).model_dump(include={"DATABASE_URL", "REDIS_URL", "SECRET_KEY"})
    other_process = create_app({**same, "TESTING": True, "API_RATE_LIMIT": 4})
    key = bearer(issue_key("notices"))
    first, second = app.test_client(), other_process.test_client()
    codes = [
        (first if n % 2 else second).get("/api/v1/notice-types", headers=key).status_code
        for n in range(5)
    ]
    assert codes == [200, 200, 200, 200, 429]
    refused = first.get("/api/v1/notice-types", headers=key)
    assert refused.mimetype == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_one_click_refusals_are_never_rate_limited(app: Flask, client: FlaskClient) -> None:
    """Mailbox providers send every one-click POST from a few addresses: none may be refused."""
    from tests.integration.helpers import make_contact
    from tests.integration.public_helpers import unsubscribe_token

    configure(app, PUBLIC_RATE_LIMIT="2 per minute")
    people = [make_contact(f"p{i}@example.com", ("promotions",)) for i in range(4)]
    tokens = [unsubscribe_token(person, "promotions") for person in people]
    codes = [
        client.post(f"/u/{t}", data={"List-Unsubscribe": "One-Click"}).status_code for t in tokens
    ]
    assert codes == [200, 200, 200, 200]
    assert [client.get("/subscribe").status_code for _ in range(3)] == [200, 200, 429]


def test_tracked_links_and_the_pixel_are_never_rate_limited(
    app: Flask, client: FlaskClient
) -> None:
    """A whole office behind one address, a mail scanner or Apple's proxy follows many people's
    links: each click still reaches its destination, each pixel is still a GIF."""
    from notifier.domain.tokens import CLICK, OPEN, make_tracking_token
    from notifier.infra.context import token_secret

    configure(app, PUBLIC_RATE_LIMIT="2 per minute")
    secret, sent = token_secret(), 1_790_000_000
    clicks = [
        make_tracking_token(secret, CLICK, 1, n, sent, 0, "https://dcnet.example/a")
        for n in range(1, 6)
    ]
    opens = [make_tracking_token(secret, OPEN, 1, n, sent, 0, "") for n in range(1, 6)]
    assert [client.get(f"/t/c/{t}").status_code for t in clicks] == [302] * 5
    assert [client.get(f"/t/o/{t}").status_code for t in opens] == [200] * 5
    # Nor does a link that is not genuine wait (the Flask view answers it): a page, no 429.
    assert [client.get("/t/c/forged").status_code for _ in range(3)] == [404] * 3
    # The limit itself still holds for the other pages, none of the above counted.
    assert [client.get("/subscribe").status_code for _ in range(3)] == [200, 200, 429]
