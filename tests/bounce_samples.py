"""The bounce corpus (tests/fixtures/bounces/): samples with their placeholders filled in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "bounces"
MAILMAN = FIXTURES / "mailman"  # flufl.bounce's own test data, as shipped (see its README.md)
VERP = "b-41-abcdefghijklmnop@bounce.dcnet.example.vn"
RCPT = "khach.hang@example.org"
MESSAGE_ID = "d41.0011223344556677@dcnet.example.vn"


def sample(
    name: str,
    verp: str = VERP,
    rcpt: str = RCPT,
    message_id: str = MESSAGE_ID,
    bounce_domain: str = "bounce.dcnet.example.vn",
) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    for key, value in (
        ("VERP", verp), ("RCPT", rcpt), ("MESSAGE_ID", message_id),
        ("BOUNCE_DOMAIN", bounce_domain),
    ):  # fmt: skip
        raw = raw.replace(b"{{" + key.encode() + b"}}", value.encode())
    # The samples are stored with LF line ends; mail on the wire has CRLF.
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def names(prefix: str = "") -> list[str]:
    return sorted(p.name for p in FIXTURES.glob(f"{prefix}*.eml"))


def mailman_names() -> list[str]:
    return sorted(p.name for p in MAILMAN.glob("*.txt"))


def corpus() -> Iterator[tuple[str, bytes]]:
    """Every sample: ours by file name, Mailman's as mailman/<file name>, bytes as sent."""
    for name in names():
        yield name, sample(name)
    for name in mailman_names():
        yield f"mailman/{name}", (MAILMAN / name).read_bytes()
