"""Tracking tokens fix campaign, contact, link and destination; machines are told from people."""

from __future__ import annotations

import pytest

from notifier.domain.tokens import (
    CLICK,
    OPEN,
    InvalidToken,
    make_token,
    make_tracking_token,
    read_tracking_token,
)
from notifier.domain.tracking import MPP, SCANNER, classify

SECRET = b"s" * 32
URL = "https://shop.example.vn/khuyen-mai?utm_source=email&x=1"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def test_a_click_token_carries_campaign_contact_time_link_and_destination() -> None:
    token = make_tracking_token(SECRET, CLICK, 12, 345678, 1_800_000_000, 3, URL)
    claims = read_tracking_token(SECRET, token, CLICK)
    assert (claims.campaign_id, claims.contact_id, claims.sent_at) == (12, 345678, 1_800_000_000)
    assert (claims.link, claims.url) == (3, URL)
    assert len(token) < 40 + len(URL) * 4 // 3  # short: ids and time take a few bytes each


def test_an_open_token_is_short_and_names_no_destination() -> None:
    token = make_tracking_token(SECRET, OPEN, 12, 345678, 1_800_000_000, 0, "")
    assert len(token) <= 36
    assert read_tracking_token(SECRET, token, OPEN).url == ""


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x" * 600,
        make_tracking_token(b"another secret" * 3, CLICK, 12, 3, 1, 0, URL),
        make_tracking_token(SECRET, OPEN, 12, 3, 1, 0, ""),  # an open token is no click
        make_token(SECRET, 3, None, "u"),  # an unsubscribe token is no click
        make_tracking_token(SECRET, CLICK, 12, 3, 1, 0, URL)[:-1],  # cut
        make_tracking_token(SECRET, CLICK, 12, 3, 1, 0, URL) + "A",  # grown
    ],
)
def test_anything_but_a_genuine_click_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        read_tracking_token(SECRET, token, CLICK)


def test_a_changed_destination_breaks_the_signature() -> None:
    import base64

    token = make_tracking_token(SECRET, CLICK, 12, 3, 1, 0, "https://shop.example.vn/a")
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    at = raw.index(b"shop")
    raw[at : at + 4] = b"evil"
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        read_tracking_token(SECRET, forged, CLICK)


def test_only_http_destinations_are_signed() -> None:
    with pytest.raises(ValueError):
        make_tracking_token(SECRET, CLICK, 12, 3, 1, 0, "")
    with pytest.raises(ValueError):
        make_tracking_token(SECRET, CLICK, 12, 3, 1, 0, "https://x.vn/" + "a" * 400)


def test_a_person_clicking_a_minute_after_delivery_is_a_person() -> None:
    assert classify(CLICK, PHONE, "203.0.113.9", 1000, 1060) == 0


@pytest.mark.parametrize(
    ("agent", "address", "seconds"),
    [
        (PHONE, "203.0.113.9", 3),  # within seconds of delivery: a prefetch
        ("Mozilla/5.0 (compatible; BingPreview/1.0b)", "203.0.113.9", 600),
        ("Barracuda Sentinel (EE)", "203.0.113.9", 600),
        ("python-requests/2.31", "203.0.113.9", 600),
        ("", "203.0.113.9", 600),  # no User-Agent at all
        (PHONE, "40.94.12.7", 600),  # Microsoft's detonation network
    ],
)
def test_scanners_and_prefetchers_are_flagged(agent: str, address: str, seconds: int) -> None:
    assert classify(CLICK, agent, address, 1000, 1000 + seconds) & SCANNER


def test_apple_mail_privacy_protection_opens_are_flagged() -> None:
    assert classify(OPEN, "Mozilla/5.0", "17.58.1.2", 1000, 5000) == MPP
    assert classify(OPEN, PHONE, "17.58.1.2", 1000, 5000) == MPP
    assert classify(OPEN, PHONE, "203.0.113.9", 1000, 5000) == 0
    assert classify(OPEN, "Mozilla/5.0", "not an address", 1000, 5000) == MPP
    assert classify(CLICK, "Mozilla/5.0 (Macintosh)", "17.58.1.2", 1000, 5000) == 0  # clicks
