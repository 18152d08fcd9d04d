"""Saving a template through the admin pages: MJML typos refused at their line, contact
attributes accepted although the sample contact has none of its own."""

from __future__ import annotations

import email
import email.policy
import html
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import templates
from notifier.delivery.rendering.errors import TemplateError
from notifier.infra.extensions import db
from notifier.models import NoticeType, Template
from tests.integration.helpers import committed, drain, make_contact
from tests.integration.test_admin_support import browser, make_staff, post, sign_in
from tests.smtp_server import SmtpTestServer

TYPO = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Ưu đãi</mj-text>
<mj-buton href="https://dcnet.example.vn">Xem</mj-buton>
</mj-column></mj-section></mj-body></mjml>"""
ATTRIBUTES = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Hạng {{ contact.tier }}, mã {{ contact['member_code'] }}</mj-text>
{% if contact.tier == "gold" %}<mj-text>Quà riêng</mj-text>{% endif %}
</mj-column></mj-section></mj-body></mjml>"""


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A marketing admin's session, signed in through the login page."""
    signed_in = browser(app)
    make_staff("admin@example.com", "admin", "Quản trị")
    sign_in(signed_in, "admin@example.com")
    return signed_in


def form(body: str) -> dict[str, str]:
    return {
        "name": "Ưu đãi",
        "kind": "promotion",
        "purpose_key": "promotions",
        "subject": "Ưu đãi cho {{ contact_name }}",
        "body_mjml": body,
        "text": "",
        "sample_locale": "vi",
    }


def saved_count() -> int:
    """Templates saved by staff: the profile's shipped notice templates (made at setup) aside."""
    shipped = db.select(NoticeType.template_id)
    query = db.select(db.func.count()).select_from(Template).where(Template.id.not_in(shipped))
    return db.session.scalar(query) or 0


def test_an_unknown_mjml_tag_is_refused_naming_tag_and_line(client: FlaskClient) -> None:
    response = post(client, "/admin/templates/new", form(TYPO))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-testid="template-error"' in page and "dòng 3" in page
    assert "&lt;mj-buton&gt;" in page and "&lt;mj-button&gt;?" in page  # the tag and a guess
    assert saved_count() == 0
    with pytest.raises(TemplateError) as refused:
        templates.check_template(templates.TemplateInput("x", "promotion", "promotions", "s", TYPO))
    assert refused.value.line == 3 and "<mj-buton>" in refused.value.problem


def test_known_tags_in_comments_and_attributes_blocks_pass(client: FlaskClient) -> None:
    body = TYPO.replace("mj-buton", "mj-button").replace(
        "<mj-body>",
        "<mj-head><mj-attributes><mj-all padding='0' /></mj-attributes></mj-head>"
        "<mj-body><!-- <mj-buton> was a typo -->",
    )
    assert post(client, "/admin/templates/new", form(body)).status_code == 302
    assert saved_count() == 1


def test_a_template_reading_contact_attributes_saves_and_sends_them(
    app: Flask, client: FlaskClient, smtp: SmtpTestServer
) -> None:
    created = post(client, "/admin/templates/new", form(ATTRIBUTES))
    assert created.status_code == 302, created.get_data(as_text=True)
    template_id = int(created.headers["Location"].rsplit("/", 1)[1])
    make_contact(
        "lan@example.com",
        ("promotions",),
        name="Lan",
        attributes={"tier": "gold", "member_code": "M-7"},
    )
    campaign = campaigns.create_campaign(
        campaigns.CampaignInput(
            name="Hạng",
            kind="promotion",
            purpose_key="promotions",
            template_id=template_id,
            audience={},
            data={},
        )
    )
    with committed():
        campaigns.schedule(campaign.id)
    drain(app)
    (received,) = smtp.messages
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hạng gold, mã M-7" in text and "Quà riêng" in text
    assert "[tier]" not in text  # the stand-in lives only in the save-time check


def test_a_template_still_fails_on_a_value_no_contact_could_supply(client: FlaskClient) -> None:
    body = ATTRIBUTES.replace("{{ contact.tier }}", "{{ offer.missing }}")
    response = post(client, "/admin/templates/new", form(body))
    assert response.status_code == 422 and "offer" in response.get_data(as_text=True)
    assert saved_count() == 0


def test_the_campaign_form_offers_sample_data_in_both_languages(client: FlaskClient) -> None:
    page = client.get("/admin/campaigns/sample-data?kind=event").get_data(as_text=True)
    offered = json.loads(html.unescape(page))
    assert set(offered) == {"vi", "en"}
    assert offered["vi"]["event_name"] == "Ngày hội khách hàng DCNET"
    assert offered["en"]["event_name"] == "DCNET Customer Day"
    assert "T08:30:00+07:00" in offered["en"]["starts_at"]  # ISO 8601, as the date filter reads


def _tag(page: str, element_id: str) -> str:
    found = re.search(rf'<(?:input|textarea)\b[^>]*\bid="{element_id}"[^>]*>', page)
    assert found, element_id
    return found[0]


def test_an_mjml_error_is_tied_to_its_field_and_summarised(client: FlaskClient) -> None:
    """Issue #14: "MJML errors are not tied to their fields". The body field is invalid and
    described by the error's text; a focusable summary at the top links to the field."""
    page = post(client, "/admin/templates/new", form(TYPO)).get_data(as_text=True)
    body = _tag(page, "body_mjml")
    assert 'aria-invalid="true"' in body and 'aria-describedby="template-error-message"' in body
    message = re.search(r'<p id="template-error-message">(.*?)</p>', page, re.S)
    assert message and "&lt;mj-buton&gt;" in message[1] and "dòng 3" in message[1]
    for other in ("subject", "text", "name"):
        assert "aria-invalid" not in _tag(page, other), other
    summary = re.search(r'<div [^>]*id="error-summary"[^>]*>(.*?)</div>', page, re.S)
    assert summary, page[:2000]
    assert 'tabindex="-1"' in summary[0] and "autofocus" in summary[0]
    assert 'href="#body_mjml"' in summary[1] and "Nội dung, dòng 3" in summary[1]


def test_a_subject_error_keeps_the_subject_hint_and_adds_the_error(client: FlaskClient) -> None:
    page = post(
        client, "/admin/templates/new", {**form(TYPO.replace("buton", "button")),
                                         "subject": "Ưu đãi {{ contact_name"}
    ).get_data(as_text=True)  # fmt: skip
    subject = _tag(page, "subject")
    assert 'aria-invalid="true"' in subject
    assert 'aria-describedby="subject-help template-error-message"' in subject
    assert "aria-invalid" not in _tag(page, "body_mjml")
    assert 'href="#subject"' in page


def test_the_live_preview_names_the_field_in_error(client: FlaskClient) -> None:
    """The preview swaps in the error box only; it names the field for admin.js to mark."""
    answer = post(client, "/admin/templates/preview", form(TYPO)).get_data(as_text=True)
    assert 'data-error-field="body_mjml"' in answer and 'id="template-error-message"' in answer
