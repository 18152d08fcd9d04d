"""Unsubscribe links and RFC 8058 one-click: GET never changes, POST withdraws once, tokens bind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.domain.consent_rules import ConsentStatus
from notifier.models import ConsentEvent, ConsentSource
from tests.integration.helpers import make_contact
from tests.integration.public_helpers import (
    body_text,
    deliver,
    preferences_token,
    system_mails,
    unsubscribe_token,
)
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def _fresh_client(app: Flask) -> FlaskClient:
    """A mail provider's POST: no cookie jar at all."""
    return app.test_client(use_cookies=False)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_post_withdraws_once_without_redirect(
    app: Flask, smtp: SmtpTestServer, encoding: str
) -> None:
    contact_id = make_contact("an@example.com", grants=("promotions", "events"))
    url = f"/u/{unsubscribe_token(contact_id, 'promotions')}"
    client = _fresh_client(app)
    kwargs = {"data": {"List-Unsubscribe": "One-Click"}}
    if encoding == "multipart":
        kwargs["content_type"] = "multipart/form-data"

    first = client.post(url, **kwargs)
    assert first.status_code == 200
    assert "Location" not in first.headers
    assert "Set-Cookie" not in first.headers or "session" not in first.headers["Set-Cookie"]
    states = consent.states(contact_id)
    assert states["promotions"] is ConsentStatus.WITHDRAWN
    assert states["events"] is ConsentStatus.GRANTED  # purpose A's token leaves B alone

    again = client.post(url, **kwargs)
    assert again.status_code == 200 and "Location" not in again.headers
    withdrawals = [e for e in consent.history(contact_id) if e.action == "withdraw"]
    assert [e.source for e in withdrawals] == [ConsentSource.ONE_CLICK]
    assert len(system_mails("refusal")) == 1

    messages = deliver(app, smtp)
    assert len(messages) == 1
    confirmation = messages[0]
    assert confirmation["To"] == "an@example.com"
    assert not str(confirmation["Subject"]).startswith("[QC]")
    text = body_text(confirmation)
    assert "Khuyến mãi và ưu đãi đặc biệt" in text
    assert "Thời điểm nhận yêu cầu" in text and "ngừng gửi" in text and "Hệ quả" in text


def test_get_changes_nothing_and_offers_confirm_all_and_preferences(
    app: Flask, client: FlaskClient
) -> None:
    contact_id = make_contact("bo@example.com", grants=("promotions",))
    token = unsubscribe_token(contact_id, "promotions")
    before = len(consent.history(contact_id))
    page = client.get(f"/u/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'action="/u/{token}"' in html and 'method="post"' in html
    assert f'action="/u/{unsubscribe_token(contact_id, None)}"' in html
    assert "Từ chối tất cả quảng cáo" in html
    # The preference link is sent to the address of record, never shown to a link holder.
    assert preferences_token(contact_id) not in html
    assert f'action="/u/{token}/preferences-link"' in html
    assert "CÔNG TY CỔ PHẦN VIỄN THÔNG DCNET" in html
    assert len(consent.history(contact_id)) == before
    assert consent.states(contact_id)["promotions"] is ConsentStatus.GRANTED
    assert system_mails() == []


def test_confirm_button_and_refuse_all(app: Flask, smtp: SmtpTestServer) -> None:
    contact_id = make_contact("cu@example.com", grants=("promotions", "events"))
    client = _fresh_client(app)
    done = client.post(f"/u/{unsubscribe_token(contact_id, None)}", data={"confirm": "yes"})
    assert done.status_code == 200
    assert "Đã từ chối tất cả email quảng cáo" in done.get_data(as_text=True)
    states = consent.states(contact_id)
    assert states["promotions"] is ConsentStatus.WITHDRAWN
    assert states["events"] is ConsentStatus.WITHDRAWN
    assert states["renewal"] is ConsentStatus.NONE  # service mail is not advertising
    sources = {e.source for e in consent.history(contact_id) if e.action == "withdraw"}
    assert sources == {ConsentSource.UNSUBSCRIBE_LINK}
    [confirmation] = deliver(app, smtp)
    assert "TẤT CẢ" in body_text(confirmation)


def test_post_without_one_click_or_confirm_changes_nothing(app: Flask) -> None:
    contact_id = make_contact("da@example.com", grants=("promotions",))
    response = _fresh_client(app).post(f"/u/{unsubscribe_token(contact_id, 'promotions')}")
    assert response.status_code == 400
    assert consent.states(contact_id)["promotions"] is ConsentStatus.GRANTED


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "x" + t,
        lambda t: t + "=",
        lambda t: "not-a-token",
        lambda t: "A" * 600,
    ],
)
def test_tampered_token_is_refused_and_changes_nothing(app: Flask, mangle: object) -> None:
    contact_id = make_contact("ed@example.com", grants=("promotions",))
    bad = mangle(unsubscribe_token(contact_id, "promotions"))  # type: ignore[operator]
    client = _fresh_client(app)
    for response in (
        client.get(f"/u/{bad}"),
        client.post(f"/u/{bad}", data={"List-Unsubscribe": "One-Click"}),
    ):
        assert 400 <= response.status_code < 500
        assert "Liên kết không hợp lệ" in response.get_data(as_text=True)
    assert consent.states(contact_id)["promotions"] is ConsentStatus.GRANTED
    assert system_mails() == []


def test_token_of_unknown_contact_or_other_action(app: Flask) -> None:
    contact_id = make_contact("fi@example.com", grants=("promotions",))
    client = _fresh_client(app)
    assert (
        client.post(
            f"/u/{unsubscribe_token(contact_id + 99, 'promotions')}",
            data={"List-Unsubscribe": "One-Click"},
        ).status_code
        == 404
    )
    # A preference-center token is not an unsubscribe token.
    response = client.post(
        f"/u/{preferences_token(contact_id)}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 404
    assert consent.states(contact_id)["promotions"] is ConsentStatus.GRANTED


def test_english_contact_sees_english(app: Flask) -> None:
    contact_id = make_contact("gi@example.com", grants=("events",), locale="en")
    client = _fresh_client(app)
    page = client.get(f"/u/{unsubscribe_token(contact_id, 'events')}")
    assert "Unsubscribe from “Important DCNET events”?" in page.get_data(as_text=True)
    assert 'lang="en"' in page.get_data(as_text=True)


def test_refusal_confirmation_never_counts_toward_the_cap(app: Flask, smtp: SmtpTestServer) -> None:
    from notifier.infra.extensions import db
    from notifier.models import SendLog

    contact_id = make_contact("ha@example.com", grants=("promotions", "events"))
    client = _fresh_client(app)
    client.post(f"/u/{unsubscribe_token(contact_id, 'promotions')}", data={"confirm": "yes"})
    client.post(f"/u/{unsubscribe_token(contact_id, 'events')}", data={"confirm": "yes"})
    assert len(deliver(app, smtp)) == 2
    assert db.session.scalar(db.select(db.func.count()).select_from(SendLog)) == 0
    assert all(m.status == "sent" and "link" not in m.data for m in system_mails())
    assert db.session.scalar(db.select(db.func.count()).select_from(ConsentEvent)) == 4
