"""An iCalendar (RFC 5545) file with one VEVENT for an event email, escaped and folded, as bytes."""

from __future__ import annotations

import datetime as dt
import re

PRODID = "-//notifier//event invitation//VI"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LINE_LIMIT = 75  # octets, not characters (RFC 5545 3.1)


def event_ics(
    *,
    uid: str,
    summary: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    organizer_email: str,
    organizer_name: str = "",
    location: str = "",
    description: str = "",
    url: str = "",
) -> bytes:
    """Times must be aware; they are written in UTC so every calendar shows the same moment."""
    dtstart, dtend = _utc(start), _utc(end)  # refuses naive times before comparing them
    if end <= start:
        raise ValueError("an event must end after it starts")
    organizer = _strip(organizer_email)
    if "@" not in organizer or any(c in organizer for c in ' :;,"<>'):
        raise ValueError(f"{organizer_email!r} is not an email address")
    cn = f';CN="{_strip(organizer_name).replace(chr(34), "")}"' if organizer_name else ""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{_text(uid)}",
        f"DTSTAMP:{_utc(now)}",
        f"DTSTART:{dtstart}",
        f"DTEND:{dtend}",
        f"SUMMARY:{_text(summary)}",
    ]
    if location:
        lines.append(f"LOCATION:{_text(location)}")
    if description:
        lines.append(f"DESCRIPTION:{_text(description)}")
    if url:
        lines.append(f"URL:{_strip(url)}")
    lines += [
        f"ORGANIZER{cn}:mailto:{organizer}",
        "STATUS:CONFIRMED",
        "SEQUENCE:0",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return b"".join(_fold(line) + b"\r\n" for line in lines)


def _utc(moment: dt.datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("event times must carry a time zone")
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _strip(value: str) -> str:
    return _CONTROL.sub("", value).strip()


def _text(value: str) -> str:
    """TEXT value (RFC 5545 3.3.11): backslash, semicolon and comma escaped, newlines as \\n."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _strip(value.replace("\n", "\\n"))


def _fold(line: str) -> bytes:
    data = line.encode("utf-8")
    chunks: list[bytes] = []
    limit = _LINE_LIMIT
    while len(data) > limit:
        cut = limit
        while data[cut] & 0xC0 == 0x80:  # never split a UTF-8 sequence across lines
            cut -= 1
        chunks.append(data[:cut])
        data = data[cut:]
        limit = _LINE_LIMIT - 1  # continuation lines start with a space
    chunks.append(data)
    return b"\r\n ".join(chunks)
