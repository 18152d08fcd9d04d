"""The public archive of a purpose: off by default (404); turned on in the profile, it lists the
purpose's finished campaigns and shows each for the sample person, with nobody's personal data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.campaigns.archive import archived_purpose
from notifier.domain.errors import NotFound
from notifier.domain.profile import load_profile
from tests.integration.helpers import drain, make_contact, start_campaign
from tests.smtp_server import SmtpTestServer

PROFILES = Path(__file__).resolve().parents[4] / "config" / "profiles"
PROMOTIONS_LIST = 'list_id = "promotions.dcnet.example"'


@pytest.fixture
def sent(app: Flask, smtp: SmtpTestServer) -> int:
    """A promotion sent to two people; an event campaign that was never sent."""
    make_contact("tuan.recipient@example.com", grants=("promotions",), name="Phạm Minh Tuấn")
    make_contact("bea.recipient@example.com", grants=("promotions",), name="Beatrice", locale="en")
    campaign = start_campaign("promotion", "promotions")
    drain(app)
    assert len(smtp.messages) == 2
    return campaign


def archive_on(app: Flask, tmp_path: Path) -> None:
    """The dcnet profile with the promotions archive turned on."""
    text = (PROFILES / "dcnet.toml").read_text(encoding="utf-8")
    assert text.count(PROMOTIONS_LIST) == 1
    path = tmp_path / "archive.toml"
    path.write_text(text.replace(PROMOTIONS_LIST, PROMOTIONS_LIST + "\npublic_archive = true"))
    app.extensions["notifier.profile"] = load_profile(path)  # what start-up loads


def test_the_archive_is_off_by_default(client: FlaskClient, sent: int) -> None:
    for path in ("/archive/promotions", f"/archive/promotions/{sent}", "/archive/renewal"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "Liên kết không hợp lệ" in page.get_data(as_text=True)
    with pytest.raises(NotFound):
        archived_purpose("promotions")


def test_turned_on_it_lists_and_shows_the_campaign_with_no_personal_data(
    app: Flask, client: FlaskClient, sent: int, tmp_path: Path
) -> None:
    archive_on(app, tmp_path)
    listing = client.get("/archive/promotions")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert "Thư đã gửi" in html and "promotion campaign" in html  # Vietnamese first
    (link,) = re.findall(r'href="(/archive/promotions/\d+)\?lang=vi"', html)
    assert link == f"/archive/promotions/{sent}"
    assert "Email archive" in client.get("/archive/promotions?lang=en").get_data(as_text=True)
    for query, greeting in (("?lang=vi", "Xin chào"), ("?lang=en", "Hello")):
        page = client.get(link + query)
        assert page.status_code == 200
        message = page.get_data(as_text=True)
        assert greeting in message and "Nguyễn Văn An" in message  # the sample person
        for personal in ("Phạm Minh Tuấn", "Beatrice", "tuan.recipient", "bea.recipient"):
            assert personal not in message, personal
        # No per-person link: the footer leads to the public sign-up page.
        assert not re.search(r"/(u|p|m|e)/[A-Za-z0-9_-]{20,}", message)
        assert "https://notifier.test/subscribe" in message
        assert "script-src" not in page.headers["Content-Security-Policy"]
    # Other purposes stay off; a campaign of another purpose or one not finished is not shown.
    assert client.get("/archive/events").status_code == 404
    assert client.get("/archive/renewal").status_code == 404
    unsent = start_campaign("promotion", "promotions")
    assert client.get(f"/archive/promotions/{unsent}").status_code == 404
    assert client.get("/archive/promotions/999999").status_code == 404
