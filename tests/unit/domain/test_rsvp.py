"""The RSVP rules: the signed link naming (campaign, contact), and when the reminder leaves."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain import rsvp as rules
from notifier.domain.tokens import InvalidToken, make_token

SECRET = b"s" * 32
# 09:00 in Hanoi (UTC+7) on 2027-03-10.
START = datetime(2027, 3, 10, 2, tzinfo=UTC)


def test_a_token_names_its_campaign_and_contact() -> None:
    token = rules.rsvp_token(SECRET, 12, 345)
    assert rules.read_rsvp_token(SECRET, token) == (12, 345)


@pytest.mark.parametrize(
    "token",
    [
        make_token(SECRET, 345, None, "u"),  # an unsubscribe token for all purposes
        make_token(SECRET, 345, "12", "u"),  # an unsubscribe token whose purpose reads "12"
        make_token(SECRET, 345, None, "p"),  # a preferences token
        make_token(SECRET, 345, None, rules.RSVP_ACTION),  # RSVP without a campaign
        make_token(SECRET, 345, "012", rules.RSVP_ACTION),  # not our spelling of 12
        make_token(SECRET, 345, "1٢", rules.RSVP_ACTION),  # a non-ASCII digit
        make_token(SECRET, 345, "ads", rules.RSVP_ACTION),  # a purpose key, not a campaign
        rules.rsvp_token(b"t" * 32, 12, 345),  # another secret
        "",
        "x" * 600,
    ],
)
def test_other_tokens_are_not_rsvp_tokens(token: str) -> None:
    with pytest.raises(InvalidToken):
        rules.read_rsvp_token(SECRET, token)


def test_an_rsvp_token_is_not_an_unsubscribe_token() -> None:
    from notifier.domain.tokens import verify_token

    token = rules.rsvp_token(SECRET, 12, 345)
    for action in ("u", "p"):
        with pytest.raises(InvalidToken):
            verify_token(SECRET, token, action)


def test_a_tampered_token_is_refused_byte_by_byte() -> None:
    raw = bytearray(base64.urlsafe_b64decode(rules.rsvp_token(SECRET, 12, 345) + "=="))
    for index in range(len(raw)):
        changed = bytearray(raw)
        changed[index] ^= 1
        token = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
        with pytest.raises(InvalidToken):
            rules.read_rsvp_token(SECRET, token)


def test_the_start_must_have_an_offset() -> None:
    assert rules.starts_at_of({"starts_at": "2027-03-10T09:00:00+07:00"}) == START
    assert rules.starts_at_of({"starts_at": "2027-03-10T09:00:00"}) is None
    assert rules.starts_at_of({"starts_at": "soon"}) is None
    assert rules.starts_at_of({}) is None


def test_registering_ends_when_the_event_starts() -> None:
    assert rules.open_for_rsvp(START, START - timedelta(seconds=1))
    assert not rules.open_for_rsvp(START, START)
    assert not rules.open_for_rsvp(None, START - timedelta(days=1))


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (START - rules.REMINDER_BEFORE - timedelta(minutes=1), False),  # too early
        (START - rules.REMINDER_BEFORE, True),  # the window opens at 09:00 the day before
        (START - timedelta(hours=1), True),
        (START, False),  # started: nothing any more
        (START + timedelta(hours=1), False),
    ],
)
def test_the_reminder_leaves_in_the_day_before_the_start(now: datetime, due: bool) -> None:
    assert rules.reminder_due(START, now, "Asia/Ho_Chi_Minh") is due


def test_quiet_hours_hold_the_reminder_until_eight_but_never_past_the_start() -> None:
    early = datetime(2027, 3, 10, 0, 30, tzinfo=UTC)  # 07:30 in Hanoi
    # The window opens at 07:30 the day before, in quiet hours: the reminder waits for 08:00.
    assert not rules.reminder_due(early, early - rules.REMINDER_BEFORE, "Asia/Ho_Chi_Minh")
    eight_before = early - rules.REMINDER_BEFORE + timedelta(minutes=30)
    assert rules.reminder_due(early, eight_before, "Asia/Ho_Chi_Minh")
    late_evening = early - timedelta(hours=10)  # 21:30 the day before: quiet
    assert not rules.reminder_due(early, late_evening, "Asia/Ho_Chi_Minh")
    dawn = early - timedelta(minutes=45)  # 06:45, still quiet, and the start comes before 08:00
    assert not rules.reminder_due(early, dawn, "Asia/Ho_Chi_Minh")
    eight = datetime(2027, 3, 10, 1, tzinfo=UTC)  # 08:00 in Hanoi, for an event at 09:00
    assert not rules.reminder_due(START, eight - timedelta(minutes=1), "Asia/Ho_Chi_Minh")
    assert rules.reminder_due(START, eight, "Asia/Ho_Chi_Minh")


def test_quiet_hours_are_the_contacts_own() -> None:
    now = datetime(2027, 3, 9, 15, tzinfo=UTC)  # 22:00 in Hanoi, 16:00 in Paris
    assert not rules.reminder_due(START, now, "Asia/Ho_Chi_Minh")
    assert rules.reminder_due(START, now, "Europe/Paris")
    assert not rules.reminder_due(START, now, "No/Such_Zone")  # read as Hanoi
