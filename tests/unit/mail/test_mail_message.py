"""The MIME assembler's bytes parse cleanly, decode to the input, and resist header injection."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from notifier.mail.body import Attachment
from notifier.mail.headers import InvalidAddressError, InvalidHeaderError
from notifier.mail.message import MessageBuilder

SUBJECT_VI = (
    "[QC] Ưu đãi tháng 6: giảm 50% cho tất cả dịch vụ hosting và tên miền của quý khách hàng"
)
ONCE = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
)


def _builder(**overrides: object) -> MessageBuilder:
    options: dict[str, object] = {
        "from_address": "news@dcnet.vn",
        "from_name": "Công ty Cổ phần DCNET",
        "list_id": "promotions.dcnet.vn",
        "list_name": "Khuyến mãi",
        "headers": [("Feedback-ID", "c7:promotions:dcnet")],
    }
    options.update(overrides)
    return MessageBuilder(**options)  # type: ignore[arg-type]


def _build(builder: MessageBuilder | None = None, /, **overrides: object) -> bytes:
    fields: dict[str, object] = {
        "to": "khach@example.com",
        "to_name": "Nguyễn Văn A",
        "subject": SUBJECT_VI,
        "text": "Xin chào anh A,\nƯu đãi đặc biệt dành cho anh.\n",
        "html": "<p>Xin chào anh A,</p><p>Ưu đãi đặc biệt dành cho anh.</p>",
        "unsubscribe_url": "https://notifier.dcnet.vn/u/AQFwcm9tb3Rpb25z",
        "unsubscribe_mailto": "mailto:unsubscribe+AQFwcm9tb3Rpb25z@dcnet.vn",
        "message_key": "d42",
        "headers": [("X-Notifier-Delivery", "42")],
    }
    fields.update(overrides)
    return (builder or _builder()).build(**fields)  # type: ignore[arg-type]


def _parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        assert part.defects == [], part.defects
    return message


def _unix(text: str) -> str:
    return text.replace("\r\n", "\n")


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def test_message_parses_without_defects_and_decodes_vietnamese() -> None:
    message = _parse(_build())
    assert message["Subject"] == SUBJECT_VI
    assert message["From"].addresses[0].display_name == "Công ty Cổ phần DCNET"
    assert message["From"].addresses[0].addr_spec == "news@dcnet.vn"
    assert message["To"].addresses[0].display_name == "Nguyễn Văn A"
    assert message["List-Id"] == "Khuyến mãi <promotions.dcnet.vn>"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert _unix(plain.get_content()) == "Xin chào anh A,\nƯu đãi đặc biệt dành cho anh.\n"
    assert "Ưu đãi đặc biệt" in html.get_content()


def test_required_headers_appear_exactly_once() -> None:
    message = _parse(_build())
    for name in (*ONCE, "Feedback-ID", "X-Notifier-Delivery"):
        assert len(message.get_all(name) or []) == 1, name


def test_unsubscribe_headers_have_the_rfc_8058_form() -> None:
    message = _parse(_build())
    unsubscribe = str(message["List-Unsubscribe"])
    assert unsubscribe == (
        "<https://notifier.dcnet.vn/u/AQFwcm9tb3Rpb25z>, "
        "<mailto:unsubscribe+AQFwcm9tb3Rpb25z@dcnet.vn>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_message_id_is_unique_and_names_the_delivery() -> None:
    builder = _builder()
    ids = {_parse(_build(builder))["Message-ID"] for _ in range(50)}
    assert len(ids) == 50
    assert all(i.startswith("<d42.") and i.endswith("@dcnet.vn>") for i in ids)


def test_date_is_rfc_5322() -> None:
    message = _parse(_build(now=1_700_000_000))
    assert message["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert message["Date"].datetime.timestamp() == 1_700_000_000


@pytest.mark.parametrize(
    "subject",
    [
        "Hello",
        "",
        "x" * 3000,
        "word " * 200,
        "ASCII with =?utf-8?q?fake?= word",
        "Tiếng Việt " * 40,
        "😀 emoji and ký tự",
    ],
)
def test_subjects_round_trip_within_line_limits(subject: str) -> None:
    data = _build(subject=subject)
    assert _parse(data)["Subject"].strip() == subject.strip()
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in _lines(head)) <= 998
    if not subject.startswith("x" * 100):
        assert max(len(line) for line in _lines(head)) <= 100


@pytest.mark.parametrize("field", ["subject", "to_name"])
@pytest.mark.parametrize(
    "payload", ["x\r\nBcc: y@evil.example", "x\nBcc: y", "x\rBcc: y", "x\x00Bcc: y"]
)
def test_line_breaks_in_subject_or_name_add_no_header(field: str, payload: str) -> None:
    message = _parse(_build(**{field: payload}))
    assert message["Bcc"] is None
    assert all(not line.startswith(b"Bcc") for line in _lines(_build(**{field: payload})))


def test_line_breaks_in_sender_name_add_no_header() -> None:
    message = _parse(_build(_builder(from_name="Shop\r\nBcc: y@evil.example")))
    assert message["Bcc"] is None
    assert message["From"].addresses[0].addr_spec == "news@dcnet.vn"


@pytest.mark.parametrize(
    "address",
    [
        "a@example.com\r\nBcc: y@evil.example",
        "a@example.com\n",
        "a\x00@example.com",
        "a@example.com>, <b@example.com",
        "a b@example.com",
        "no-at-sign",
        "",
        "ngườidùng@example.com",
        "a@" + "x" * 300 + ".com",
    ],
)
def test_bad_recipient_address_is_refused(address: str) -> None:
    with pytest.raises(InvalidAddressError):
        _build(to=address)


def test_bad_sender_address_is_refused() -> None:
    with pytest.raises(InvalidAddressError):
        _builder(from_address="news@dcnet.vn\r\nBcc: y@evil.example")


@pytest.mark.parametrize(
    "overrides",
    [
        {"unsubscribe_url": "https://x.vn/u/a\r\nBcc: y"},
        {"unsubscribe_url": "http://x.vn/u/a"},
        {"unsubscribe_mailto": "mailto:u@x.vn> <https://evil"},
        {"message_key": "d1>\r\nBcc: y"},
        {"headers": [("X-Notifier-Delivery", "1\r\nBcc: y")]},
        {"headers": [("Bcc", "y@evil.example")]},
        {"headers": [("List-Unsubscribe", "<https://evil>")]},
        {"headers": [("Bad Name", "v")]},
    ],
)
def test_unsafe_verbatim_values_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidHeaderError):
        _build(**overrides)


def test_long_single_line_html_stays_within_998_octets() -> None:
    html = "<p>" + "Xin chào " * 600 + "</p>"
    ascii_html = "<p>" + "a" * 5000 + "</p>"
    for body in (html, ascii_html):
        data = _build(html=body, text=body)
        assert max(len(line) for line in _lines(data)) <= 998
        html_part = _parse(data).get_body(("html",))
        assert html_part is not None and html_part.get_content() == body


def test_bodies_keep_dots_spaces_and_line_breaks() -> None:
    text = ".\n.leading dot\ntrailing space \nCRLF\r\nCR only\rend"
    plain = _parse(_build(text=text)).get_body(("plain",))
    assert plain is not None
    assert _unix(plain.get_content()) == text.replace("\r\n", "\n").replace("\r", "\n")


def test_calendar_invite_is_attached_in_multipart_mixed() -> None:
    ics = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nSUMMARY:Hội thảo\r\nEND:VCALENDAR\r\n".encode()
    invite = Attachment("thư mời.ics", "text/calendar; charset=utf-8; method=REQUEST", ics)
    message = _parse(_build(attachments=[invite]))
    assert message.get_content_type() == "multipart/mixed"
    parts = list(message.iter_attachments())
    assert len(parts) == 1
    assert parts[0].get_content_type() == "text/calendar"
    assert parts[0].get_param("method") == "REQUEST"
    assert parts[0].get_filename() == "thư mời.ics"
    assert parts[0].get_content().encode("utf-8") == ics
    assert message.get_body(("plain",)) is not None


def test_campaign_attachment_is_added_to_every_message() -> None:
    invite = Attachment("invite.ics", "text/calendar; method=REQUEST", b"BEGIN:VCALENDAR\r\n")
    builder = _builder(attachments=[invite])
    for _ in range(2):
        assert len(list(_parse(_build(builder)).iter_attachments())) == 1


def test_sender_without_name_and_ascii_names() -> None:
    message = _parse(_build(_builder(from_name=None, list_name=None), to_name='A "B" \\ C'))
    assert message["From"] == "news@dcnet.vn"
    assert message["To"].addresses[0].display_name == 'A "B" \\ C'
    assert message["List-Id"] == "<promotions.dcnet.vn>"


def test_plain_http_unsubscribe_links_only_on_this_machine() -> None:
    from notifier.mail.message import _unsubscribe_lines

    assert b"<http://127.0.0.1:5000/u/t>" in _unsubscribe_lines(
        "http://127.0.0.1:5000/u/t", "mailto:u@example.com"
    )
    with pytest.raises(InvalidHeaderError):
        _unsubscribe_lines("http://shop.example.com/u/t", "mailto:u@example.com")


def test_one_message_id_scheme_for_every_kind_of_mail() -> None:
    from notifier.mail.message import message_id_of, new_message_id

    first, second = new_message_id("s6", "dcnet.vn"), new_message_id("s6", "dcnet.vn")
    assert first != second
    assert first.startswith("<s6.") and first.endswith("@dcnet.vn>")
    message = b"From: a@dcnet.vn\r\nMessage-ID: " + first.encode() + b"\r\n\r\nbody"
    assert message_id_of(message) == first.strip("<>")
    assert message_id_of(b"From: a@dcnet.vn\r\nSubject: none\r\n\r\nbody") is None
    with pytest.raises(InvalidHeaderError):
        new_message_id("d1\r\nBcc: x@evil.example", "dcnet.vn")
