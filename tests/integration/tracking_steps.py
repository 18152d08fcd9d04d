"""A promotion sent to two contacts, one of whom agreed to a notice that discloses tracking."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from notifier.contacts.purposes import sync_purposes
from notifier.domain.profile import load_profile
from notifier.infra.unit_of_work import unit_of_work
from tests.integration.helpers import drain, make_contact, start_campaign
from tests.integration.rsvp_steps import parsed
from tests.smtp_server import SmtpTestServer


def tracked_profile(tmp: Path) -> Path:
    """dcnet with a new promotions notice (version 2) that discloses click and open tracking."""
    text = Path("config/profiles/dcnet.toml").read_text(encoding="utf-8")
    old = 'notice_version = "1"\nfrequency.vi = "Tối đa 2 email mỗi tuần"\n'
    old += 'frequency.en = "At most 2 emails a week"\nmax_per_week = 2\nlist_id = "promotions.'
    assert text.count(old) == 1
    new = 'tracking = { clicks = true, opens = true, notice_versions = ["2"] }\n' + old.replace(
        'notice_version = "1"', 'notice_version = "2"'
    )
    path = tmp / "tracked.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def html_of(message: object) -> str:
    body = message.get_body(("html",))  # type: ignore[attr-defined]
    assert body is not None
    return str(body.get_content())


def send_tracked(app: Flask, smtp: SmtpTestServer, tmp_path: Path) -> dict:
    """Bea agreed to notice 1 (no tracking disclosed), then the profile's notice 2 disclosed
    tracking and An agreed to it; one promotion goes to both."""
    bea = make_contact("bea@example.com", grants=("promotions",), name="Bea")
    app.extensions["notifier.profile"] = load_profile(tracked_profile(tmp_path))
    with unit_of_work():
        sync_purposes(app.extensions["notifier.profile"])
    an = make_contact("an@example.com", grants=("promotions",), name="Nguyễn Văn An")
    campaign = start_campaign("promotion", "promotions")
    drain(app)
    mails = {m.rcpt_tos[0]: html_of(p) for m, p in zip(smtp.messages, parsed(smtp), strict=True)}
    assert set(mails) == {"an@example.com", "bea@example.com"}
    return {"campaign": campaign, "an": an, "bea": bea, "mails": mails}
