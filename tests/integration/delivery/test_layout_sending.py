"""Each built-in layout saves, renders and sends its own sample, per locale and profile."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from flask import Flask

from notifier.campaigns import templates
from notifier.delivery.composer import Recipient, build_composer, event_invitation
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.delivery.single import send_one
from notifier.infra.context import profile
from tests.integration.helpers import layout_template
from tests.smtp_server import SmtpTestServer

PURPOSES = {
    "dcnet": {"promotion": "promotions", "event": "events", "renewal": "renewal"},
    "caycanhhoanggia": {
        "promotion": "product_info",
        "event": "project_publicity",
        "renewal": "orders",
    },
}
GREETINGS = {"vi": ("Kính gửi", "Xin chào"), "en": ("Dear", "Hello")}


def received(server: SmtpTestServer) -> EmailMessage:
    (message,) = server.messages
    return email.message_from_bytes(message.data, policy=email.policy.default)  # type: ignore[return-value]


@pytest.mark.parametrize("profile_name", ["dcnet", "caycanhhoanggia"])
@pytest.mark.parametrize("kind", ["promotion", "event", "renewal"])
@pytest.mark.parametrize("locale", ["vi", "en"])
def test_each_layout_sends_its_sample_in_the_senders_name(
    app: Flask, smtp: SmtpTestServer, profile_name: str, kind: str, locale: str
) -> None:
    purpose = PURPOSES[profile_name][kind]
    layout_template(kind, purpose)  # the save-time check passes on the layout as shipped
    layout = builtin_layouts()[kind]
    data = templates.sample_for(kind)
    attachments = event_invitation(1, data) if kind == "event" else ()
    composer = build_composer(layout.variants, purpose, attachments)
    person = Recipient(5, "khach@example.com", "An", locale, {})
    result = send_one("bounce@example.com", person.email, composer.compose(person, data, "d5"))
    assert result.status == "sent"

    message = received(smtp)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    identity = profile().identity
    for part in (text, html):
        assert identity.from_name in part and identity.phone in part
        assert "Mây Xanh" not in part and "mayxanh" not in part
        assert any(greeting in part for greeting in GREETINGS[locale])
    assert str(message["Subject"]).startswith("[QC] ") is layout.advertising
    title = {"promotion": "headline", "event": "event_name", "renewal": "service_name"}[kind]
    assert data[locale][title] in str(message["Subject"])


def test_the_invitation_is_utf8_and_its_summary_reads_in_vietnamese(
    app: Flask, smtp: SmtpTestServer
) -> None:
    layout = builtin_layouts()["event"]
    data = templates.sample_for("event")
    attachments = event_invitation(3, data)
    composer = build_composer(layout.variants, "events", attachments)
    person = Recipient(5, "khach@example.com", "An", "vi", {})
    send_one("bounce@example.com", person.email, composer.compose(person, data, "d5"))

    message = received(smtp)
    (calendar,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert calendar.get_content_charset() == "utf-8"
    assert calendar.get_param("method") == "PUBLISH"
    content = calendar.get_content()
    assert isinstance(content, str)
    unfolded = content.replace("\r\n ", "").replace("\n ", "")
    summary = next(line for line in unfolded.splitlines() if line.startswith("SUMMARY"))
    assert summary.partition(":")[2] == data["vi"]["event_name"]  # "Ngày hội khách hàng DCNET"
    location = next(line for line in unfolded.splitlines() if line.startswith("LOCATION"))
    assert "Lê Quang Định" in location.replace("\\,", ",")
