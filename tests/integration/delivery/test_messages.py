"""Header rules on the bytes the SMTP server received, DKIM verified by dkimpy, and notices."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import date, timedelta
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from notifier.campaigns import templates
from notifier.contacts import consent_ledger as consent
from notifier.domain.consent_rules import Reason
from notifier.domain.errors import Conflict
from notifier.infra.extensions import db
from notifier.mail.dkim import DkimSigner
from notifier.models import Campaign, ConsentSource, Notice
from notifier.notices import notices
from tests.conftest import configure
from tests.integration.helpers import (
    committed,
    drain,
    layout_template,
    make_contact,
    sample_data,
    start_campaign,
)
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def dkim_key(app: Flask, tmp_path: Path) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    configure(app, DKIM_KEY_FILE=str(path), DKIM_DOMAIN="dcnet.test", DKIM_SELECTOR="s1")
    return DkimSigner.from_file(path, domain="dcnet.test", selector="s1").dns_txt_record()


def one_message(server: SmtpTestServer) -> email.message.EmailMessage:
    (received,) = server.messages
    return email.message_from_bytes(received.data, policy=email.policy.default)  # type: ignore[return-value]


def test_advertising_headers_and_dkim_on_the_received_bytes(
    app: Flask, smtp: SmtpTestServer, dkim_key: str
) -> None:
    make_contact("lan@example.com", ("promotions",), name="Nguyễn Thị Lan")
    start_campaign("promotion", "promotions")
    drain(app)
    raw = smtp.messages[0].data
    message = one_message(smtp)

    assert not message.defects
    assert str(message["Subject"]).startswith("[QC] ")
    assert len(message.get_all("List-Unsubscribe")) == 1
    assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    targets = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert targets[0].startswith("https://notifier.test/u/")
    assert targets[1].startswith("mailto:")
    assert message["List-Id"] and message["Message-ID"] and message["Date"]
    assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    signed = str(message["DKIM-Signature"]).replace(" ", "").replace("\r\n", "")
    header_list = re.search(r"h=([^;]+)", signed).group(1).lower().split(":")  # type: ignore[union-attr]
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= set(header_list)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.dcnet.test."
        return dkim_key.encode()

    assert dkim.verify(raw, dnsfunc=dns)
    tampered = raw.replace(b"https://notifier.test/u/", b"https://evil.example/u/", 1)
    assert tampered != raw and not dkim.verify(tampered, dnsfunc=dns)


def test_a_campaign_speaks_each_contacts_language(app: Flask, smtp: SmtpTestServer) -> None:
    """Campaign data with a variant per locale: a vi and an en contact each get their own."""
    make_contact("vi@example.com", ("promotions",), name="Lan", locale="vi")
    make_contact("en@example.com", ("promotions",), name="Tom", locale="en")
    campaign_id = start_campaign("promotion", "promotions")
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.data = templates.sample_for("promotion")
        db.session.commit()
    drain(app)
    received = {
        str(m.rcpt_tos[0]): email.message_from_bytes(m.data, policy=email.policy.default)
        for m in smtp.messages
    }
    for address, subject, greeting in [
        ("vi@example.com", "[QC] Ưu đãi tri ân: giảm 20% khi gia hạn 12 tháng", "Xin chào Lan"),
        ("en@example.com", "[QC] Thank-you offer: 20% off 12-month renewals", "Hello Tom"),
    ]:
        message = received[address]
        assert str(message["Subject"]) == subject
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert greeting in text and greeting in html
    english = received["en@example.com"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Xin chào" not in english and "Áp dụng" not in english


def test_feedback_id_names_the_campaign_and_is_signed(
    app: Flask, smtp: SmtpTestServer, dkim_key: str
) -> None:
    make_contact("lan@example.com", ("promotions",), name="Nguyễn Thị Lan")
    campaign_id = start_campaign("promotion", "promotions")
    drain(app)
    raw = smtp.messages[0].data
    message = one_message(smtp)
    assert message.get_all("Feedback-ID") == [f"c{campaign_id}:advertising:promotions:dcnet"]
    assert "lan" not in str(message["Feedback-ID"]).lower()  # no personal data
    signed = str(message["DKIM-Signature"]).replace(" ", "").replace("\r\n", "")
    header_list = re.search(r"h=([^;]+)", signed).group(1).lower().split(":")  # type: ignore[union-attr]
    assert "feedback-id" in header_list

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return dkim_key.encode()

    assert dkim.verify(raw, dnsfunc=dns)
    relabelled = raw.replace(f"c{campaign_id}:".encode(), b"c999:", 1)
    assert relabelled != raw and not dkim.verify(relabelled, dnsfunc=dns)


def test_message_ids_are_unique_and_name_the_delivery(app: Flask, smtp: SmtpTestServer) -> None:
    for i in range(5):
        make_contact(f"p{i}@example.com", ("promotions",))
    start_campaign("promotion", "promotions")
    drain(app)
    ids = [
        email.message_from_bytes(m.data, policy=email.policy.default)["Message-ID"]
        for m in smtp.messages
    ]
    assert len(set(ids)) == 5 and all(str(i).startswith("<d") for i in ids)


def renewal_type() -> str:
    notices.define_notice_type(
        "renewal", "Gia hạn", "renewal", layout_template("renewal", "renewal")
    )
    return "renewal"


def test_a_renewal_notice_is_sent_once_without_the_ad_label(
    app: Flask, smtp: SmtpTestServer
) -> None:
    contact_id = make_contact("kh@example.com", name="Công ty Hoa Lan")
    body = sample_data("renewal")
    with committed():
        first = notices.trigger(
            renewal_type(), contact_id, body, "inv-1", notices.request_fingerprint(body)
        )
    with committed():
        again = notices.trigger(
            "renewal", contact_id, body, "inv-1", notices.request_fingerprint(body)
        )
    notice_id = first.notice.id
    assert first.created and not again.created and again.notice.id == notice_id
    with pytest.raises(Conflict), committed():
        notices.trigger("renewal", contact_id, {"x": 1}, "inv-1", notices.request_fingerprint({}))
    drain(app)

    message = one_message(smtp)
    assert not str(message["Subject"]).startswith("[QC]")
    notice = db.session.get(Notice, notice_id)
    assert notice is not None and notice.status == "sent" and notice.message_id
    assert str(message["Message-ID"]).strip("<>") == notice.message_id


@pytest.mark.parametrize("why", ["withdrawn", "contract_ended"])
def test_a_renewal_notice_is_skipped_with_a_reason(
    app: Flask, smtp: SmtpTestServer, why: str
) -> None:
    ended = date.today() - timedelta(days=2) if why == "contract_ended" else None
    contact_id = make_contact("kh@example.com", contract_ends_on=ended)
    if why == "withdrawn":
        consent.withdraw(contact_id, ["renewal"], consent.Evidence(ConsentSource.EMAIL))
    body = sample_data("renewal")
    with committed():
        triggered = notices.trigger(
            renewal_type(), contact_id, body, "inv-2", notices.request_fingerprint(body)
        )
    notice_id = triggered.notice.id
    drain(app)
    notice = db.session.get(Notice, notice_id)
    assert notice is not None
    expected = Reason.WITHDRAWN if why == "withdrawn" else Reason.CONTRACT_ENDED
    assert (notice.status, notice.reason) == ("skipped", expected.value)
    assert smtp.messages == []


# The renewal layout lists each customer's services: it is rendered per recipient
# (test_rendering_stencil.py::test_the_renewal_layout_is_rendered_per_recipient).
@pytest.mark.parametrize("kind", ["promotion", "event"])
def test_the_stencil_path_sends_what_a_full_render_makes(app: Flask, kind: str) -> None:
    """Each campaign layout takes the render-once path; its parts equal a per-recipient render."""
    from notifier.delivery.composer import Recipient, build_composer, links_for
    from notifier.delivery.rendering.layouts import builtin_layouts

    layout = builtin_layouts()[kind]
    purpose = {"promotion": "promotions", "event": "events"}[kind]
    composer = build_composer(layout.variants, purpose)
    data = dict(sample_data(kind))
    people = [
        Recipient(7, "lan@example.com", 'Lan <b>"&</b>', "vi", {"tier": "gold"}),
        Recipient(8, "tom@example.com", "", "en", {}),
    ]
    for person in people:
        raw = composer.compose(person, data, f"d{person.contact_id}", "c5")
        sent = email.message_from_bytes(raw, policy=email.policy.default)
        links = links_for(person.contact_id, purpose)
        footer = composer.footer(person, links)
        # The event layout's RSVP button: the recipient's own link for campaign 5.
        own = composer._template_links(person.contact_id, "c5", links)
        context = {**composer.context(person, data), "links": own}
        expected = composer.compiled_for(person).render(context, footer)
        html = sent.get_body(("html",)).get_content()  # type: ignore[union-attr]
        text = sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert html.replace("\r\n", "\n") == expected.html
        assert text.replace("\r\n", "\n") == expected.text
        assert str(sent["Subject"]) == expected.subject
        assert (own["rsvp"] in text) is (kind == "event")
    assert all(prepared is not None for prepared in composer._stencils.values())
