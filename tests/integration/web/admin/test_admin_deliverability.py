"""The deliverability page over HTTP: the doctor's findings against a local DNS server, who may
see it, a bad domain answered with a page, and hostile DNS content shown as text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.mail.dkim import DkimSigner
from tests.conftest import configure
from tests.dns_server import LocalDns
from tests.integration.operations.test_doctor import (
    BOUNCE,
    FROM,
    RELAY,
    SELECTOR,
    publish_good_zone,
)
from tests.integration.test_admin_support import browser, make_staff, sign_in
from tests.mail_auth import _pem


@pytest.fixture
def dns(app: Flask, tmp_path: Path) -> Iterator[LocalDns]:
    key = tmp_path / "dkim.pem"
    key.write_bytes(_pem())
    with LocalDns() as server:
        configure(
            app, SMTP_URL=f"smtp://{RELAY}:587", BOUNCE_DOMAIN=BOUNCE, DKIM_DOMAIN=FROM,
            DKIM_SELECTOR=SELECTOR, DKIM_KEY_FILE=str(key), DNS_RESOLVER=server.address,
        )  # fmt: skip
        publish_good_zone(server, DkimSigner(_pem(), domain=FROM, selector=SELECTOR))
        yield server


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


def signed_in(client: FlaskClient, role: str) -> FlaskClient:
    make_staff(f"{role}@example.com", role)
    sign_in(client, f"{role}@example.com")
    return client


def test_admin_sees_every_finding_in_vietnamese_then_english(
    client: FlaskClient, dns: LocalDns
) -> None:
    signed_in(client, "admin")
    page = client.get("/admin/deliverability")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Khả năng gửi thư" in text and 'data-code="doctor_dkim_match"' in text
    assert 'data-level="error"' not in text
    assert 'href="/admin/deliverability"' in text  # in the navigation
    dns.txt[f"_dmarc.{FROM}"] = []
    english = client.get("/admin/deliverability?lang=en").get_data(as_text=True)
    assert 'data-code="doctor_dmarc_missing" data-level="error"' in english
    assert "No DMARC policy" in english and f"_dmarc.{FROM}. TXT" in english


def test_domain_override_and_a_bad_domain_answers_with_a_page(
    client: FlaskClient, dns: LocalDns
) -> None:
    signed_in(client, "admin")
    other = client.get("/admin/deliverability?domain=other.example.vn").get_data(as_text=True)
    assert 'data-code="doctor_spf_none"' in other and "<code>other.example.vn</code>" in other
    bad = client.get("/admin/deliverability?domain=%3Cscript%3Ealert(1)%3C/script%3E")
    assert bad.status_code == 400
    body = bad.get_data(as_text=True)
    assert 'data-testid="bad-domain"' in body and "<script>alert" not in body
    assert "Traceback" not in body


def test_hostile_records_are_shown_as_text(client: FlaskClient, dns: LocalDns) -> None:
    signed_in(client, "admin")
    dns.txt[f"{SELECTOR}._domainkey.{FROM}"] = ['v=DKIM1; p=<img src=x onerror="alert(1)">']
    body = client.get("/admin/deliverability").get_data(as_text=True)
    assert 'data-code="doctor_dkim_malformed"' in body
    assert "<img src=x" not in body and "&lt;img src=x" in body


def test_roles_without_the_permission_are_refused(client: FlaskClient, dns: LocalDns) -> None:
    signed_in(client, "marketing")
    assert client.get("/admin/deliverability").status_code == 403
    assert 'href="/admin/deliverability"' not in client.get("/admin/").get_data(as_text=True)


def test_signed_out_visitors_go_to_the_sign_in_page(client: FlaskClient, dns: LocalDns) -> None:
    response = client.get("/admin/deliverability")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert f"{FROM} TXT" not in dns.questions  # nothing was asked for them
