"""Shared steps of the RSVP tests: an event campaign sent through the real pipeline, the RSVP
link taken from the mail that arrived, and the ledger of registrations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from flask import Flask
from sqlalchemy import select

from notifier.campaigns import lifecycle as campaigns
from notifier.infra.extensions import db
from notifier.models import Rsvp, SystemMail
from tests.integration.helpers import committed, drain, layout_template, sample_data
from tests.integration.public_helpers import body_text as text_of
from tests.smtp_server import SmtpTestServer

RSVP_LINK = re.compile(r"https://notifier\.test(/e/[A-Za-z0-9_-]+)")
HANOI = timedelta(hours=7)


def event_campaign(starts_at: datetime, purpose: str = "events") -> int:
    """An event campaign of the built-in layout starting at `starts_at`, scheduled now."""
    data = sample_data("event")
    data["starts_at"] = starts_at.astimezone(UTC).isoformat()
    data["ends_at"] = (starts_at + timedelta(hours=3)).astimezone(UTC).isoformat()
    with committed():
        campaign = campaigns.create_campaign(
            campaigns.CampaignInput(
                name="Ngày hội khách hàng",
                kind="event",
                purpose_key=purpose,
                template_id=layout_template("event", purpose),
                audience={},
                data=data,
            )
        )
        campaigns.schedule(campaign.id)
        return campaign.id


def parsed(server: SmtpTestServer) -> list[EmailMessage]:
    return [message_from_bytes(m.data, policy=default) for m in server.messages]  # type: ignore[misc]


def rsvp_paths(app: Flask, server: SmtpTestServer) -> dict[str, str]:
    """Send what is queued; each invitation's RSVP path, by recipient. The HTML button and the
    text part carry the same link."""
    drain(app)
    paths = {}
    for received, message in zip(server.messages, parsed(server), strict=True):
        html = message.get_body(("html",))
        assert html is not None
        (path,) = set(RSVP_LINK.findall(text_of(message)))
        assert f"https://notifier.test{path}" in str(html.get_content())  # type: ignore[attr-defined]
        (address,) = received.rcpt_tos
        paths[address] = path
    return paths


def rsvps() -> list[tuple[int, int, bool, bool]]:
    """Every registration: campaign, contact, cancelled?, reminded?"""
    db.session.expire_all()
    rows = db.session.execute(
        select(Rsvp.campaign_id, Rsvp.contact_id, Rsvp.cancelled_at, Rsvp.reminded_at).order_by(
            Rsvp.id
        )
    )
    return [(c, p, x is not None, r is not None) for c, p, x, r in rows]


def mails(kind: str) -> list[SystemMail]:
    db.session.expire_all()
    query = select(SystemMail).where(SystemMail.kind == kind).order_by(SystemMail.id)
    return list(db.session.scalars(query))


def hanoi(day: datetime, hour: int, minute: int = 0) -> datetime:
    """`hour`:`minute` in Hanoi on the Hanoi date of `day`, in UTC."""
    local = (day.astimezone(UTC) + HANOI).date()
    return datetime(local.year, local.month, local.day, hour, minute, tzinfo=UTC) - HANOI
