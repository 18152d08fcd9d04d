"""One person's opens and clicks on their admin page, only for a role holding
contacts.engagement: the built-in admin (every permission) sees them, with the campaign, kind,
link, time and machine flag, and the look is audited; marketing (no such permission) sees no
section at all and gets 403 on the engagement URL. Through HTTP, real send path."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from notifier.infra.extensions import db
from notifier.models import AuditEntry
from notifier.models.types import utcnow
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.integration.tracking_steps import send_tracked
from tests.smtp_server import SmtpTestServer

CLICK_LINK = re.compile(r'href="https://notifier\.test(/t/c/[A-Za-z0-9_-]+)"')
PIXEL = re.compile(r'src="https://notifier\.test(/t/o/[A-Za-z0-9_-]+)"')
PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}


@pytest.fixture
def engaged(app: Flask, smtp: SmtpTestServer, tmp_path: Path) -> dict:
    """An's first link followed by a scanner at once; later An opens the mail and clicks."""
    sent = send_tracked(app, smtp, tmp_path)
    mail = sent["mails"]["an@example.com"]
    public = app.test_client()
    assert public.get(CLICK_LINK.findall(mail)[0], headers=PHONE).status_code == 302
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        assert public.get(PIXEL.findall(mail)[0], headers=PHONE).status_code == 200
        assert public.get(CLICK_LINK.findall(mail)[0], headers=PHONE).status_code == 302
    return sent


def _signed_in(app: Flask, email: str, role: str) -> FlaskClient:
    make_staff(email, role)
    client = browser(app)
    sign_in(client, email)
    return client


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return _signed_in(app, "quantri@example.com", "admin")


@pytest.fixture
def marketing(app: Flask) -> FlaskClient:
    return _signed_in(app, "tiepthi@example.com", "marketing")


def test_a_role_with_the_permission_sees_the_persons_opens_and_clicks(
    admin: FlaskClient, engaged: dict
) -> None:
    page = admin.get(f"/admin/contacts/{engaged['an']}").get_data(as_text=True)
    section = page[page.index('id="engagement"') :]
    section = section[: section.index("</section>")]
    rows = re.findall(r"<tr><td>(.*?)</tr>", section, re.S)
    assert len(rows) == 3  # newest first: the click, the open, the scanner's click
    click, opened, scanner = rows
    assert "promotion campaign" in click and "Bấm liên kết" in click
    assert "1: https://client.dcnet.vn/khuyen-mai?utm_source=email" in click
    assert "<td>Không</td>" in click
    assert "Mở thư" in opened and "<td>—</td>" in opened
    assert "Có (máy quét hoặc proxy)" in scanner
    full = admin.get(f"/admin/contacts/{engaged['an']}/engagement?lang=en")
    assert full.status_code == 200
    text = full.get_data(as_text=True)
    assert text.count("<tr><td>") == 3 and "Yes (scanner or proxy)" in text
    db.session.expire_all()
    audited = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "contacts.engagement")
    ).all()
    assert [(a.object_id, a.details["shown"]) for a in audited] == [(str(engaged["an"]), 3)] * 2
    bea = admin.get(f"/admin/contacts/{engaged['bea']}?lang=vi").get_data(as_text=True)
    assert 'id="engagement"' in bea and "Không có lượt mở hay bấm nào" in bea  # untracked
    assert admin.get("/admin/contacts/999999/engagement").status_code == 404


def test_a_role_without_it_sees_no_section_and_gets_403(
    marketing: FlaskClient, engaged: dict
) -> None:
    page = marketing.get(f"/admin/contacts/{engaged['an']}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "an@example.com" in text  # the contact page itself, as the role may see it
    assert 'id="engagement"' not in text and "contact-engagement" not in text
    assert "Mở thư và bấm liên kết" not in text and "khuyen-mai" not in text
    for path in (
        f"/admin/contacts/{engaged['an']}/engagement",
        f"/admin/contacts/{engaged['an']}/engagement?lang=en",
        "/admin/contacts/999999/engagement",  # no hint whether the contact exists
    ):
        answer = marketing.get(path)
        assert answer.status_code == 403, path
        assert "khuyen-mai" not in answer.get_data(as_text=True)
    db.session.expire_all()
    assert (
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "contacts.engagement")
        ).all()
        == []
    )


def test_signed_out_the_url_asks_for_a_sign_in(app: Flask, engaged: dict) -> None:
    answer = browser(app).get(f"/admin/contacts/{engaged['an']}/engagement")
    assert answer.status_code in (302, 401)
    assert "khuyen-mai" not in answer.get_data(as_text=True)
