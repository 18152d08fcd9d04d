"""iCalendar for event emails: structure, escaping, UTC times and 75-octet line folding."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from notifier.delivery.rendering import event_ics

SAIGON = ZoneInfo("Asia/Ho_Chi_Minh")
EVENT = {
    "uid": "event-42@notifier.example",
    "summary": "Hội thảo Chuyển đổi số; phần 1, buổi sáng",
    "start": dt.datetime(2025, 9, 18, 8, 30, tzinfo=SAIGON),
    "end": dt.datetime(2025, 9, 18, 11, 30, tzinfo=SAIGON),
    "now": dt.datetime(2025, 8, 1, 3, 0, tzinfo=dt.UTC),
    "organizer_email": "sukien@mayxanh.example",
    "organizer_name": 'Mây Xanh "Cloud"',
    "location": "Khách sạn Rex, 141 Nguyễn Huệ, TP. Hồ Chí Minh",
    "description": "Chương trình:\n08:30 Đón khách\n09:00 Điện toán đám mây tại Việt Nam \\ "
    + "Bảo vệ dữ liệu cá nhân theo Nghị định 13/2023 và Luật 91/2025 " * 3,
    "url": "https://mayxanh.example/su-kien/42",
}


def unfold(data: bytes) -> dict[str, str]:
    assert data.endswith(b"\r\n")
    physical = data[:-2].split(b"\r\n")
    assert all(len(line) <= 75 for line in physical)
    for line in physical:
        line.decode("utf-8")  # a fold never splits a multi-byte character
    logical = b"".join(b"\n" + line if not line.startswith(b" ") else line[1:] for line in physical)
    properties = {}
    for line in logical.decode("utf-8").lstrip("\n").split("\n"):
        name, _, value = line.partition(":")
        properties.setdefault(name, value)
    return properties


def test_event_is_a_valid_folded_vevent():
    data = event_ics(**EVENT)
    assert data.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert data.endswith(b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    props = unfold(data)
    assert props["UID"] == "event-42@notifier.example"
    assert props["DTSTAMP"] == "20250801T030000Z"
    assert (props["DTSTART"], props["DTEND"]) == ("20250918T013000Z", "20250918T043000Z")
    assert props["SUMMARY"] == "Hội thảo Chuyển đổi số\\; phần 1\\, buổi sáng"
    assert props["LOCATION"] == "Khách sạn Rex\\, 141 Nguyễn Huệ\\, TP. Hồ Chí Minh"
    assert props["DESCRIPTION"].startswith("Chương trình:\\n08:30 Đón khách\\n09:00")
    assert "Việt Nam \\\\ Bảo vệ" in props["DESCRIPTION"]
    assert props['ORGANIZER;CN="Mây Xanh Cloud"'] == "mailto:sukien@mayxanh.example"
    assert props["URL"] == "https://mayxanh.example/su-kien/42"


def test_long_lines_fold_at_75_octets():
    data = event_ics(**EVENT)
    assert b"\r\n " in data
    assert max(len(line) for line in data.split(b"\r\n")) == 75


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"start": dt.datetime(2025, 9, 18, 8, 30)}, "time zone"),
        ({"end": EVENT["start"]}, "end after"),
        ({"organizer_email": "x\r\nATTENDEE:evil"}, "not an email"),
    ],
)
def test_bad_input_is_refused(change, problem):
    with pytest.raises(ValueError, match=problem):
        event_ics(**{**EVENT, **change})


def test_control_characters_cannot_start_a_new_property():
    data = event_ics(**{**EVENT, "summary": "a\rATTENDEE:x", "uid": "u\x00id"})
    props = unfold(data)
    assert "ATTENDEE" not in props and props["SUMMARY"] == "a\\nATTENDEE:x"
    assert props["UID"] == "uid"
