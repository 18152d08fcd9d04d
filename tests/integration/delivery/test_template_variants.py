"""A template has a variant per locale: the contact's locale chooses, falling back to Vietnamese.

Issue #14 item 5: contacts whose locale is `en` got Vietnamese subjects and bodies. Here a
campaign goes to a real SMTP server and each recipient's message is read back from it.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns import templates
from notifier.campaigns.preflight import PreflightFailed
from notifier.delivery.rendering.errors import TemplateError
from notifier.domain.errors import ValidationFailed
from notifier.domain.locales import Variant
from notifier.infra.extensions import db
from notifier.models import Contact, TemplateVersion
from tests.integration import test_api_support as support
from tests.integration.helpers import committed, drain, make_contact, sample_data
from tests.integration.test_admin_support import browser, make_staff, post, sign_in
from tests.smtp_server import SmtpTestServer

api, key = support.api, support.key  # fixtures


def body(text: str) -> str:
    return (
        '<mjml lang="{{ locale }}"><mj-body><mj-section><mj-column>\n'
        f"<mj-text>{text}</mj-text>\n"
        "</mj-column></mj-section></mj-body></mjml>"
    )


# Each variant in one language only, no t(): what a contact reads is the variant, not a mix.
VIETNAMESE = Variant(
    "Ưu đãi tháng này cho {{ contact_name }}",
    body("Xin chào {{ contact_name }}. {{ headline }}. Hạn cuối {{ valid_until|date }}."),
)
ENGLISH = Variant(
    "This month's offer for {{ contact_name }}",
    body("Hello {{ contact_name }}. {{ headline }}. Ends {{ valid_until|date }}."),
)


def save(english: Variant | None = ENGLISH, vietnamese: Variant = VIETNAMESE) -> int:
    data = templates.TemplateInput(
        name="Ưu đãi tháng", kind="promotion", purpose_key="promotions",
        subject=vietnamese.subject, body_mjml=vietnamese.body_mjml, text=vietnamese.text,
        variants={"en": english} if english else {},
    )  # fmt: skip
    with committed():
        template = templates.save_template(data)
    return template.id


def campaign(template_id: int) -> int:
    with committed():
        created = campaigns.create_campaign(
            campaigns.CampaignInput(
                name="Ưu đãi tháng", kind="promotion", purpose_key="promotions",
                template_id=template_id,
                data={"vi": sample_data("promotion", "vi"), "en": sample_data("promotion", "en")},
            )
        )  # fmt: skip
    return created.id


def by_recipient(server: SmtpTestServer) -> dict[str, EmailMessage]:
    found = {}
    for message in server.messages:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        for rcpt in message.rcpt_tos:
            found[rcpt] = parsed
    return found  # type: ignore[return-value]


def parts(message: EmailMessage) -> tuple[str, str, str]:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return str(message["Subject"]), text, html


def test_an_en_contact_reads_english_and_vi_or_unknown_read_vietnamese(
    app: Flask, smtp: SmtpTestServer
) -> None:
    make_contact("vi@example.com", ("promotions",), name="Lan", locale="vi")
    make_contact("en@example.com", ("promotions",), name="Tom", locale="en")
    unknown = make_contact("fr@example.com", ("promotions",), name="Zoé")
    # A locale the product does not speak, as an old import or another system may have left it.
    db.session.get(Contact, unknown).locale = "fr"  # type: ignore[union-attr]
    db.session.commit()
    with committed():
        campaigns.schedule(campaign(save()))
    drain(app)

    received = by_recipient(smtp)
    assert set(received) == {"vi@example.com", "en@example.com", "fr@example.com"}
    subject, text, html = parts(received["en@example.com"])
    assert subject == "[QC] This month's offer for Tom"
    assert "Hello Tom." in text and "Hello Tom." in html
    assert sample_data("promotion", "en")["headline"] in text
    assert '<html lang="en"' in html and "Unsubscribe" in text  # the footer speaks English too
    assert "Xin chào" not in text and "Ưu đãi tháng này" not in text
    for address, name in (("vi@example.com", "Lan"), ("fr@example.com", "Zoé")):
        subject, text, html = parts(received[address])
        assert subject == f"[QC] Ưu đãi tháng này cho {name}"
        assert f"Xin chào {name}." in text and f"Xin chào {name}." in html
        assert sample_data("promotion", "vi")["headline"] in text
        assert '<html lang="vi"' in html and "Hello" not in text


def test_without_an_english_variant_an_en_contact_reads_the_vietnamese_one_whole(
    app: Flask, smtp: SmtpTestServer
) -> None:
    make_contact("en@example.com", ("promotions",), name="Tom", locale="en")
    with committed():
        campaigns.schedule(campaign(save(english=None)))
    drain(app)

    subject, text, html = parts(by_recipient(smtp)["en@example.com"])
    assert subject == "[QC] Ưu đãi tháng này cho Tom"
    # Body, dates and footer in one language: no English footer under a Vietnamese body.
    assert "Xin chào Tom." in text and '<html lang="vi"' in html
    assert sample_data("promotion", "vi")["headline"] in text and "Unsubscribe" not in text


def test_preflight_renders_the_en_variant_when_the_audience_has_en_contacts(app: Flask) -> None:
    # Only the English variant prints the plan, so only an `en` contact without one fails.
    english = Variant(ENGLISH.subject + " ({{ contact.plan }})", ENGLISH.body_mjml)
    template_id = save(english)
    make_contact("vi@example.com", ("promotions",), locale="vi")
    vietnamese_only = campaign(template_id)
    with committed():
        campaigns.schedule(vietnamese_only)  # no `en` contact: the English variant is not needed

    make_contact("en@example.com", ("promotions",), locale="en")
    with pytest.raises(PreflightFailed) as refused, committed():
        campaigns.schedule(campaign(template_id))
    (failure,) = refused.value.failures
    assert failure.examples == ["en@example.com"] and failure.count == 1
    assert failure.reason.startswith("en subject") and "plan" in failure.reason


def test_a_test_send_in_english_uses_the_english_variant(app: Flask, smtp: SmtpTestServer) -> None:
    make_staff("marketing@example.com", "marketing")
    campaign_id = campaign(save())
    campaigns.send_test(campaign_id, "marketing@example.com", "Tom", locale="en")
    campaigns.send_test(campaign_id, "marketing@example.com", "Lan", locale="vi")
    subjects = [parts(message)[0] for message in map(_parse, smtp.messages)]
    assert subjects == [
        "[QC] (thử nghiệm/test) This month's offer for Tom",
        "[QC] (thử nghiệm/test) Ưu đãi tháng này cho Lan",
    ]


def test_test_copies_cover_each_variant_the_audience_reads(
    app: Flask, smtp: SmtpTestServer
) -> None:
    make_contact("vi@example.com", ("promotions",), locale="vi")
    both, vietnamese_only = campaign(save()), campaign(save(english=None))
    assert campaigns.locales_to_test(both, "vi") == ["vi"]  # nobody reads English yet
    assert campaigns.locales_to_test(both, "en") == ["vi", "en"]  # the staff member does
    make_contact("en@example.com", ("promotions",), locale="en")
    assert campaigns.locales_to_test(both, "vi") == ["vi", "en"]
    assert campaigns.locales_to_test(vietnamese_only, "en") == ["vi"]  # what `en` contacts get

    make_staff("admin@example.com", "admin", "Quản trị")
    client = browser(app)
    sign_in(client, "admin@example.com")
    post(client, f"/admin/campaigns/{both}/test", {"to": "admin@example.com"})
    subjects = [parts(_parse(message))[0] for message in smtp.messages]
    assert subjects == [
        "[QC] (thử nghiệm/test) Ưu đãi tháng này cho Quản trị",
        "[QC] (thử nghiệm/test) This month's offer for Quản trị",
    ]


def _parse(message: object) -> EmailMessage:
    return email.message_from_bytes(message.data, policy=email.policy.default)  # type: ignore[attr-defined, return-value]


def test_each_saved_version_keeps_its_variants(app: Flask) -> None:
    template_id = save()
    changed = Variant("Offer changed for {{ contact_name }}", ENGLISH.body_mjml)
    data = templates.TemplateInput(
        name="Ưu đãi tháng", kind="promotion", purpose_key="promotions",
        subject=VIETNAMESE.subject, body_mjml=VIETNAMESE.body_mjml, variants={"en": changed},
    )  # fmt: skip
    with committed():
        templates.save_template(data, template_id)
    kept = db.session.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template_id)
        .order_by(TemplateVersion.version)
    ).all()
    assert [dict(v.sources())["en"].subject for v in kept] == [ENGLISH.subject, changed.subject]
    assert [dict(v.sources())["vi"] for v in kept] == [VIETNAMESE, VIETNAMESE]
    assert dict(templates.get_template(template_id).sources())["en"] == changed


def test_a_broken_english_variant_is_refused_naming_it(app: Flask) -> None:
    broken = Variant("Offer {{ headline ", ENGLISH.body_mjml)
    with pytest.raises(TemplateError) as refused:
        save(broken)
    assert refused.value.locale == "en" and str(refused.value).startswith("en subject, line 1")
    half = Variant("Offer", "  ")
    with pytest.raises(ValidationFailed) as incomplete:
        save(half)
    assert "variants.en" in incomplete.value.errors


def test_the_api_creates_a_template_with_an_english_variant(app: Flask, api: FlaskClient) -> None:
    request = {
        "name": "Ưu đãi", "kind": "promotion", "purpose": "promotions",
        "subject": VIETNAMESE.subject, "body_mjml": VIETNAMESE.body_mjml,
        "variants": {"en": {"subject": ENGLISH.subject, "body_mjml": ENGLISH.body_mjml}},
    }  # fmt: skip
    created = api.post("/api/v1/templates", json=request)
    assert created.status_code == 201, created.get_json()
    answer = created.get_json()
    assert answer["subject"] == VIETNAMESE.subject
    assert answer["variants"]["en"]["subject"] == ENGLISH.subject
    without = api.post("/api/v1/templates", json={**request, "variants": {}})
    assert without.status_code == 201 and without.get_json()["variants"] == {}
    broken = {**request, "variants": {"en": {"subject": "{{ x ", "body_mjml": "<mjml/>"}}}
    refused = api.post("/api/v1/templates", json=broken)
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["field"] == "variants.en.subject"
    unknown = api.post("/api/v1/templates", json={**request, "variants": {"fr": request}})
    assert unknown.status_code == 422


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


def _form(**fields: str) -> dict[str, str]:
    return {
        "name": "Ưu đãi tháng", "kind": "promotion", "purpose_key": "promotions",
        "subject": VIETNAMESE.subject, "body_mjml": VIETNAMESE.body_mjml, "text": "",
        "en_subject": ENGLISH.subject, "en_body_mjml": ENGLISH.body_mjml, "en_text": "",
        "sample_locale": "vi", **fields,
    }  # fmt: skip


def test_the_admin_editor_has_a_section_per_locale_and_previews_each(
    app: Flask, client: FlaskClient
) -> None:
    make_staff("admin@example.com", "admin")
    sign_in(client, "admin@example.com")
    page = client.get("/admin/templates/new?layout=promotion").get_data(as_text=True)
    assert '<fieldset class="variant" data-locale="vi">' in page
    assert "<legend>Bản tiếng Việt (bắt buộc)</legend>" in page
    assert 'id="en_subject" name="en_subject" lang="en"' in page
    assert '<label for="en_body_mjml">' in page

    saved = post(client, "/admin/templates/new", _form())
    assert saved.status_code == 302, saved.get_data(as_text=True)  # type: ignore[attr-defined]
    template_id = int(saved.headers["Location"].rsplit("/", 1)[1])  # type: ignore[attr-defined]
    assert dict(templates.get_template(template_id).sources())["en"].subject == ENGLISH.subject
    edit = client.get(f"/admin/templates/{template_id}").get_data(as_text=True)
    assert "This month&#39;s offer for {{ contact_name }}" in edit

    english = post(client, "/admin/templates/preview", _form(sample_locale="en"))
    shown = english.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "This month&#39;s offer for Alex Nguyen" in shown and "preview-fallback" not in shown
    vietnamese = post(client, "/admin/templates/preview", _form()).get_data(as_text=True)  # type: ignore[attr-defined]
    assert "Ưu đãi tháng này cho Nguyễn Văn An" in vietnamese
    fallback = post(
        client,
        "/admin/templates/preview",
        _form(sample_locale="en", en_subject="", en_body_mjml=""),
    ).get_data(as_text=True)  # type: ignore[attr-defined]
    assert 'data-testid="preview-fallback"' in fallback and "Ưu đãi tháng này" in fallback

    half = post(client, "/admin/templates/new", _form(en_body_mjml=""))
    assert half.status_code == 422  # type: ignore[attr-defined]
    assert "Bản tiếng Anh: cần cả tiêu đề và nội dung" in half.get_data(as_text=True)  # type: ignore[attr-defined]

    error = post(client, "/admin/templates/preview", _form(en_subject="Offer {{ x "))
    text = error.get_data(as_text=True)  # type: ignore[attr-defined]
    assert 'data-testid="template-error"' in text and "Bản Tiếng Anh, Tiêu đề" in text
