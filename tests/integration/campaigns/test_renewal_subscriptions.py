"""A renewal campaign gives each recipient their own expiring subscription, read for the batch
in one query; a recipient with none in the window is skipped with a reason, never sent a sample."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from decimal import Decimal
from email.message import EmailMessage

import pytest
from flask import Flask
from sqlalchemy import event, select

from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import templates
from notifier.delivery.holdings import NO_SUBSCRIPTION
from notifier.infra.extensions import db
from notifier.models import Contact, Delivery, DeliveryStatus, Subscription, utcnow
from notifier.processes.worker import run_worker
from tests.conftest import configure
from tests.integration.helpers import committed, drain, layout_template, make_contact, sample_data
from tests.smtp_server import SmtpTestServer

SUBJECT = "{{ subscription.name }} hết hạn {{ subscription.expires_on|date }}"
BODY = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Kính gửi {{ contact_name }}: {{ subscription.name }} ({{ subscription.plan }})
hết hạn {{ subscription.expires_on|date }},
phí {{ subscription.amount|money(subscription.currency) }}.
Đang dùng: {% for s in subscriptions %}[{{ s.name }}]{% endfor %}</mj-text>
<mj-button href="{{ subscription.renewal_url }}">Gia hạn</mj-button>
</mj-column></mj-section></mj-body></mjml>"""
TEXT = "{{ subscription.name }} {{ subscription.renewal_url }}"


@pytest.fixture
def smtp(app: Flask) -> SmtpTestServer:
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url)
        yield server  # type: ignore[misc]


def subscribe(contact_id: int, external_id: str, name: str, days: int, **extra: object) -> None:
    with committed():
        db.session.add(
            Subscription(
                source="billing",
                external_id=external_id,
                contact_id=contact_id,
                kind="domain",
                name=name,
                plan=str(extra.get("plan", "Tên miền")),
                expires_on=utcnow().date() + timedelta(days=days),
                amount=Decimal(str(extra.get("amount", "750000"))),
                currency="VND",
                renewal_url=f"https://billing.dcnet.vn/gia-han/{external_id}",
                status=str(extra.get("status", "active")),
                attributes={},
            )
        )


def renewal_campaign(window: int) -> int:
    with committed():
        template = templates.save_template(
            templates.TemplateInput(
                name="renewal per recipient",
                kind="renewal",
                purpose_key="renewal",
                subject=SUBJECT,
                body_mjml=BODY,
                text=TEXT,
            )
        )
        campaign = campaigns.create_campaign(
            campaigns.CampaignInput(
                name="renewals",
                kind="renewal",
                purpose_key="renewal",
                template_id=template.id,
                audience={"expiring_within_days": window},
            )
        )
        campaigns.schedule(campaign.id)
        return campaign.id


def layout_campaign(window: int) -> None:
    """A renewal campaign of the built-in layout, its sample data as staff start from."""
    with committed():
        campaign = campaigns.create_campaign(
            campaigns.CampaignInput(
                name="renewals",
                kind="renewal",
                purpose_key="renewal",
                template_id=layout_template("renewal", "renewal"),
                audience={"expiring_within_days": window},
                data=sample_data("renewal"),
            )
        )
        campaigns.schedule(campaign.id)


def messages(server: SmtpTestServer) -> dict[str, EmailMessage]:
    result = {}
    for m in server.messages:
        parsed = email.message_from_bytes(m.data, policy=email.policy.default)
        result[m.rcpt_tos[0]] = parsed
    return result  # type: ignore[return-value]


def test_each_recipient_receives_their_own_expiring_service(
    app: Flask, smtp: SmtpTestServer
) -> None:
    an = make_contact("an@example.com", name="An")
    binh = make_contact("binh@example.com", name="Bình")
    cuc = make_contact("cuc@example.com", name="Cúc")  # renewed already: nothing in the window
    subscribe(an, "D-1", "hoalan.vn", 10)
    subscribe(an, "D-9", "hoalan.com", 200)  # active, outside the window
    subscribe(binh, "D-2", "binhminh.vn", 20, amount="1250000", plan="Hosting Pro")
    subscribe(cuc, "D-3", "cuc.vn", 5, status="renewed")

    queries: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("SELECT subscriptions."):
            queries.append(statement)

    campaign_id = renewal_campaign(30)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        drain(app)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)

    received = messages(smtp)
    assert set(received) == {"an@example.com", "binh@example.com"}
    an_text = received["an@example.com"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    an_html = received["an@example.com"].get_body(("html",)).get_content()  # type: ignore[union-attr]
    binh_html = received["binh@example.com"].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert str(received["an@example.com"]["Subject"]).startswith("hoalan.vn hết hạn")
    assert "https://billing.dcnet.vn/gia-han/D-1" in an_text
    assert "[hoalan.vn][hoalan.com]" in an_html and "binhminh.vn" not in an_html
    assert "binhminh.vn" in str(received["binh@example.com"]["Subject"])
    assert "Hosting Pro" in binh_html and "1.250.000" in binh_html
    assert "https://billing.dcnet.vn/gia-han/D-2" in binh_html and "hoalan" not in binh_html
    # The audience held only the two; their subscriptions were read once, for the one batch.
    db.session.rollback()
    rows = db.session.execute(
        select(Contact.email, Delivery.status, Delivery.reason)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id)
    ).all()
    assert {r[0] for r in rows} == {"an@example.com", "binh@example.com"}
    assert len(queries) == 1


def test_a_renewal_paid_after_planning_skips_the_person_with_a_reason(
    app: Flask, smtp: SmtpTestServer
) -> None:
    an = make_contact("an@example.com", name="An")
    subscribe(an, "D-1", "hoalan.vn", 10)
    campaign_id = renewal_campaign(30)
    run_worker(app, ["campaigns"], burst=True)  # planned: the ledger holds An
    with committed():
        sub = db.session.scalar(select(Subscription))
        assert sub is not None
        sub.status = "renewed"
    drain(app)
    assert smtp.messages == []
    db.session.rollback()
    delivery = db.session.scalar(select(Delivery).where(Delivery.campaign_id == campaign_id))
    assert delivery is not None
    assert (delivery.status, delivery.reason) == (DeliveryStatus.SKIPPED, NO_SUBSCRIPTION)


def test_the_built_in_renewal_layout_shows_each_customer_their_own_service(
    app: Flask, smtp: SmtpTestServer
) -> None:
    """The layout staff start from reads service_name, account_ref, expires_on... (the notice
    data's names): in a renewal campaign they are the recipient's own expiring subscription,
    never the sample's account KH-00815."""
    an = make_contact("an@example.com", name="An")
    binh = make_contact("binh@example.com", name="Bình", locale="en")
    subscribe(an, "D-1", "hoalan.vn", 10)
    subscribe(binh, "D-2", "binhminh.vn", 20, amount="1250000")
    layout_campaign(30)
    drain(app)
    received = messages(smtp)
    assert set(received) == {"an@example.com", "binh@example.com"}
    for address, (service, ref, days) in {
        "an@example.com": ("hoalan.vn", "D-1", 10),
        "binh@example.com": ("binhminh.vn", "D-2", 20),
    }.items():
        message = received[address]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        expires = utcnow().date() + timedelta(days=days)
        assert service in str(message["Subject"])
        shown = (
            expires.strftime("%d/%m/%Y")
            if address.startswith("an")
            else f"{expires:%b} {expires.day}, {expires.year}"
        )
        assert shown in str(message["Subject"])
        for part in (html, text):
            assert service in part and ref in part
            assert f"https://billing.dcnet.vn/gia-han/{ref}" in part
            assert "KH-00815" not in part and "Gói dịch vụ Tiêu chuẩn" not in part
    assert "Your binhminh.vn service expires soon" in str(received["binh@example.com"]["Subject"])


def test_the_built_in_renewal_layout_lists_all_of_a_customers_services(
    app: Flask, smtp: SmtpTestServer
) -> None:
    """A customer with several services sees the expiring one and then all of them, each with
    its own date, fee and link; a customer with one service sees no list, and nobody sees the
    sample's second service."""
    an = make_contact("an@example.com", name="An")
    binh = make_contact("binh@example.com", name="Bình", locale="en")
    subscribe(an, "D-1", "hoalan.vn", 10)
    subscribe(an, "H-7", "Hosting Pro", 200, amount="2400000")
    subscribe(an, "D-8", "hoalan.net", 90, status="cancelled")  # not held any more: not listed
    subscribe(binh, "D-2", "binhminh.vn", 20)
    layout_campaign(30)
    drain(app)
    received = messages(smtp)
    an_html = received["an@example.com"].get_body(("html",)).get_content()  # type: ignore[union-attr]
    an_text = received["an@example.com"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    later = utcnow().date() + timedelta(days=200)
    for part in (an_html, an_text):
        assert "Tất cả dịch vụ của quý khách" in part
        assert "Hosting Pro" in part and "2.400.000" in part
        assert later.strftime("%d/%m/%Y") in part
        assert "https://billing.dcnet.vn/gia-han/H-7" in part
        assert "hoalan.net" not in part and "TM-02041" not in part
    binh_html = received["binh@example.com"].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "All your services" not in binh_html and "binhminh.vn" in binh_html
