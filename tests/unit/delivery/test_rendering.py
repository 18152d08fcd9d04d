"""Rendering core: sandbox, error lines, subject label, footer, promotion refusal, text part."""

from __future__ import annotations

import re

import pytest

from notifier.delivery.rendering import FooterData, Part, TemplateError, compile_template
from notifier.domain.profile import Identity, LegalBasis, Localized, Purpose, PurposeKind

BODY = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Xin chào {{ name }}, <a href="{{ url }}">xem chi tiết</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""
CONTEXT = {"name": "Lan", "url": "https://shop.example/don-hang?id=1&k=2"}


def footer(advertising: bool = True, locale: str = "vi") -> FooterData:
    return FooterData(
        advertising=advertising,
        locale=locale,
        company="Công ty TNHH Hoa Lan",
        phone="028 3812 3456",
        email="lienhe@hoalan.example",
        address="12 Lê Lợi, TP. Hồ Chí Minh",
        website="hoalan.example",
        purpose_name="Khuyến mãi" if advertising else "Đơn hàng",
        unsubscribe_url="https://hoalan.example/u/TOKEN",
        unsubscribe_all_url="https://hoalan.example/u/TOKEN-ALL",
        preferences_url="https://hoalan.example/p/TOKEN",
        unsubscribe_mailbox="huy@hoalan.example",
        hotline="1900 5555",
    )


def render(subject="Tin mới", body=BODY, text=None, context=CONTEXT, advertising=True, **kw):
    compiled = compile_template(subject, body, text, advertising=advertising, **kw)
    return compiled.render(context, footer(advertising))


def error(subject="Tin mới", body=BODY, text=None, context=CONTEXT, advertising=True):
    with pytest.raises(TemplateError) as caught:
        render(subject, body, text, context, advertising)
    return caught.value


def with_text(markup: str) -> str:
    return BODY.replace('Xin chào {{ name }}, <a href="{{ url }}">xem chi tiết</a>', markup)


# --- sandbox and escaping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ name.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ [].append(1) }}",
    ],
)
def test_sandbox_refuses_attribute_escapes_without_leaking(expression):
    err = error(body=with_text(expression))
    assert (err.part, err.line) == (Part.BODY, 5)
    assert "<class" not in str(err) and "object'>" not in str(err)


def test_script_in_data_is_escaped_in_html():
    message = render(context={**CONTEXT, "name": "<script>alert(1)</script>"})
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html


@pytest.mark.parametrize(
    ("markup", "problem"),
    [
        ('{{ "<!--"|safe }}', "No filter named 'safe'"),
        ("{% autoescape false %}{{ name }}{% endautoescape %}", "autoescape"),
        ('{% include "footer.html" %}', "include"),
        ("{% raw %}<div hidden>{% endraw %}", "raw"),
        ('{{ "x" * 1000000 }}', "longer than"),
    ],
)
def test_unsafe_constructs_are_refused(markup, problem):
    err = error(body=with_text(markup))
    assert err.part is Part.BODY and err.line == 5 and problem in err.problem


# --- error lines ------------------------------------------------------------------------------


def test_undefined_variable_is_named_with_its_mjml_line():
    body = BODY.replace(
        "</mj-column>", "  <mj-text>\n{{ order_total }}</mj-text>\n      </mj-column>"
    )
    err = error(body=body)
    assert (err.part, err.line) == (Part.BODY, 7)
    assert "'order_total' is undefined" in err.problem
    assert str(err) == "body, line 7: 'order_total' is undefined"


@pytest.mark.parametrize(
    ("subject", "text", "part", "line"),
    [
        ("Chào {{ nobody }}", None, Part.SUBJECT, 1),
        ("Tin mới", "Dòng 1\nDòng 2 {{ nobody }}", Part.TEXT, 2),
    ],
)
def test_undefined_variable_in_subject_and_text(subject, text, part, line):
    err = error(subject=subject, text=text)
    assert (err.part, err.line) == (part, line) and "'nobody' is undefined" in err.problem


def test_jinja_syntax_error_names_the_line():
    err = error(body=BODY.replace("{{ url }}", "{{ url "))
    assert (err.part, err.line) == (Part.BODY, 5)


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        (BODY.replace("</mj-text>", ""), 6, "<mj-text> from line 5 is still open"),
        (BODY.replace('href="{{ url }}"', "href={{ url }}"), 5, "well-formed tag"),
        (with_text("<div>chưa đóng"), 5, "</mj-text> found while <div> from line 5 is still open"),
        (with_text("<!-- ghi chú"), 5, "comment is never closed"),
    ],
)
def test_mjml_syntax_error_names_the_line(body, line, problem):
    err = error(body=body)
    assert (err.part, err.line) == (Part.BODY, line) and problem in err.problem


def test_jinja_comparison_inside_mjml_is_not_taken_for_a_tag():
    message = render(body=with_text("{% if 1 < 2 and 3 > 2 %}đúng{% endif %}"))
    assert "đúng" in message.html


# --- footer -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "markup",
    [
        '{% if false %}<div style="display:none">{% endif %}x{% if false %}</div>{% endif %}',
        "{% if true %}<div hidden>{% endif %}<div>x</div>{% if false %}</div>{% endif %}",
        "{% for i in [1] %}<span hidden>{% endfor %}x{% for i in [] %}</span>{% endfor %}",
        "<!--{% if false %}-->{% endif %}",
        '<span title="{% if false %}">{% endif %}"></span>',
        "{% set x %}<div hidden>{% endset %}{{ x }}</div>",
    ],
)
def test_a_template_cannot_leave_a_tag_open_around_the_footer(markup):
    err = error(body=with_text(markup))
    assert err.part is Part.BODY and err.line == 5 and "must be closed inside it" in err.problem


@pytest.mark.parametrize("advertising", [True, False])
def test_footer_is_always_last_in_html_and_text(advertising):
    subject = "Đơn hàng" if advertising is False else "Tin mới"
    message = render(subject=subject, body=with_text("{# nothing #}"), advertising=advertising)
    assert message.html.endswith("</div>\n</body></html>")
    refusal = message.html.index('data-notifier="refusal"')
    assert message.html.index("https://hoalan.example/u/TOKEN") > refusal
    assert message.html.index("https://hoalan.example/p/TOKEN") > refusal
    assert 'href="mailto:huy@hoalan.example"' in message.html[refusal:]
    assert "1900 5555" in message.html[refusal:]
    assert message.text.rstrip().endswith("1900 5555.")
    assert "https://hoalan.example/u/TOKEN" in message.text


def test_identity_block_precedes_the_refusal_section_with_all_five_items():
    message = render()
    identity = message.html.index('data-notifier="identity"')
    refusal = message.html.index('data-notifier="refusal"')
    block = message.html[identity:refusal]
    for item in ("Công ty TNHH Hoa Lan", "028 3812 3456", "lienhe@hoalan.example",
                 "12 Lê Lợi, TP. Hồ Chí Minh", "hoalan.example"):  # fmt: skip
        assert item in block
    section = message.html[refusal:]
    assert "TẤT CẢ thư quảng cáo" in section
    assert "https://hoalan.example/u/TOKEN-ALL" in section
    assert 'https://hoalan.example/u/TOKEN"' in section
    text = message.text
    assert text.index("Công ty TNHH Hoa Lan") < text.index("TẤT CẢ") < text.index("TOKEN-ALL")


def test_footer_speaks_english_by_locale():
    compiled = compile_template("News", BODY, None, advertising=True)
    message = compiled.render(CONTEXT, footer(locale="en"))
    assert "refuse ALL advertising" in message.html and "Refuse all advertising" in message.text
    assert 'lang="und"' in message.html  # this template sets no lang; the layouts set {{ locale }}


def test_footer_kind_must_match_the_template():
    compiled = compile_template("Tin mới", BODY, None, advertising=True)
    with pytest.raises(ValueError, match="purpose kind"):
        compiled.render(CONTEXT, footer(advertising=False))


def test_footer_data_from_profile_identity_and_purpose():
    identity = Identity(
        company="Mây Xanh", phone="1900 1234", email="a@mayxanh.example", address="Hà Nội",
        website="https://mayxanh.example", from_address="no-reply@mayxanh.example",
        from_name="Mây Xanh", unsubscribe_mailbox="huy@mayxanh.example",
    )  # fmt: skip
    purpose = Purpose(
        key="events", kind=PurposeKind.ADVERTISING, legal_basis=LegalBasis.CONSENT,
        name=Localized("Sự kiện", "Events"), notice=Localized("", ""), notice_version="1",
        frequency=Localized("", ""), max_per_week=None, list_id="events.mayxanh.example",
    )  # fmt: skip
    data = FooterData.for_purpose(
        identity, purpose, "en", unsubscribe_url="https://x.example/u",
        unsubscribe_all_url="https://x.example/a", preferences_url="https://x.example/p",
    )  # fmt: skip
    assert (data.advertising, data.purpose_name, data.hotline) == (True, "Events", "1900 1234")
    assert data.website_url == "https://mayxanh.example"
    with pytest.raises(ValueError, match="http"):
        FooterData(**{**data.__dict__, "unsubscribe_url": "javascript:alert(1)"})


# --- subject ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "advertising", "label", "expected"),
    [
        ("Ưu đãi tháng 7 cho {{ name }}", True, "[QC]", "[QC] Ưu đãi tháng 7 cho Lan"),
        ("[QC] Tin mới", True, "[QC]", "[QC] Tin mới"),
        ("  [qc]   Tin mới", True, "[QC]", "[QC] Tin mới"),
        ("Tin mới", True, "[AD]", "[AD] Tin mới"),
        ("Đơn hàng của {{ name }}", False, "[QC]", "Đơn hàng của Lan"),
        ("[QC] Đơn hàng", False, "[QC]", "Đơn hàng"),
    ],
)
def test_advertising_label_rules(subject, advertising, label, expected):
    assert render(subject=subject, advertising=advertising, label=label).subject == expected


@pytest.mark.parametrize(
    ("subject", "context"),
    [
        ("x\r\nBcc: y", CONTEXT),
        ("Chào {{ name }}", {**CONTEXT, "name": "x\r\nBcc: victim@example.com\x00\u2028"}),
    ],
)
def test_control_characters_never_reach_the_subject(subject, context):
    rendered = render(subject=subject, context=context).subject
    assert not re.search(r"[\x00-\x1f\x7f\u2028]", rendered)
    assert "Bcc:" in rendered  # kept as harmless text on the one line


# --- promotion blocks in service notices ------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body", "text", "part", "line"),
    [
        ("Đơn hàng", BODY.replace("<mj-section>", '<mj-section css-class="promotion">'), None,
         Part.BODY, 3),
        ("Đơn hàng", with_text('<p class="note promotion">x</p>'), None, Part.BODY, 5),
        ("Đơn hàng", with_text("Giảm giá 20% cho đơn sau"), None, Part.BODY, 5),
        ("Đơn hàng", with_text("nhập ma giam gia"), None, Part.BODY, 5),
        ("Khuyến mãi cho {{ name }}", BODY, None, Part.SUBJECT, 1),
        ("Order", BODY, "Thanks!\nGet 15% off your next order", Part.TEXT, 2),
        ("Order", BODY, "Use promo code SPRING", Part.TEXT, 1),
    ],
)  # fmt: skip
def test_service_template_with_a_promotion_block_is_refused(subject, body, text, part, line):
    with pytest.raises(TemplateError) as caught:
        compile_template(subject, body, text, advertising=False)
    assert (caught.value.part, caught.value.line) == (part, line)
    assert "service notice cannot carry" in caught.value.problem


def test_advertising_template_may_carry_a_promotion_block():
    body = BODY.replace("<mj-section>", '<mj-section css-class="promotion">')
    assert render(subject="Giảm giá", body=body).subject == "[QC] Giảm giá"


# --- text part --------------------------------------------------------------------------------


def test_text_part_is_generated_from_the_html_when_none_is_written():
    body = """<mjml>
  <mj-head><mj-preview>ẩn đi</mj-preview><mj-style>.x { color: red; }</mj-style></mj-head>
  <mj-body>
    <mj-section><mj-column>
      <mj-text><h1>Đơn hàng {{ name }}</h1><p>Dòng một.<br />Dòng hai &amp; ba.</p></mj-text>
      <mj-text><ul><li>Một</li><li>Hai</li></ul></mj-text>
      <mj-button href="{{ url }}">Theo dõi đơn</mj-button>
      <mj-raw><script>alert("no")</script></mj-raw>
    </mj-column></mj-section>
  </mj-body>
</mjml>"""
    text = render(body=body, advertising=False, subject="Đơn hàng").text
    body_text = text.split("\n--\n")[0]
    assert body_text == (
        "Đơn hàng Lan\n\nDòng một.\nDòng hai & ba.\n\n- Một\n- Hai\n\n"
        "Theo dõi đơn (https://shop.example/don-hang?id=1&k=2)\n"
    )
    assert "color" not in text and "alert" not in text and "ẩn đi" not in text


def test_written_text_part_is_used_and_tidied():
    text = render(text="Chào {{ name }}  \n{% if false %}\nbỏ\n{% endif %}\n\n\n\nHết").text
    assert text.startswith("Chào Lan\n\nHết\n\n--\n")


def test_dates_and_amounts_follow_the_locale():
    subject = "{{ when|date }} {{ amount|money }} {{ amount|money('USD') }} {{ when|date('long') }}"
    context = {**CONTEXT, "when": "2025-03-05", "amount": 1250000}
    compiled = compile_template(subject, BODY, None, advertising=False)
    vi = compiled.render(context, footer(False, "vi")).subject
    en = compiled.render(context, footer(False, "en")).subject
    # The subject is one header line: babel's no-break spaces become plain spaces there.
    assert vi == "05/03/2025 1.250.000 ₫ 1.250.000,00 US$ Thứ Tư, 05/03/2025"
    assert en == "Mar 5, 2025 ₫1,250,000 $1,250,000.00 Wednesday, March 5, 2025"
