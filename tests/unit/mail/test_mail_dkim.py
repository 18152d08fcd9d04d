"""The DKIM signer's output verifies with dkimpy and any tampering breaks it."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from notifier.mail.dkim import (
    DkimConfigError,
    DkimKeyError,
    DkimMessageError,
    DkimSigner,
    relaxed_body,
    relaxed_header,
)
from notifier.mail.message import MessageBuilder

DOMAIN = "dcnet.vn"
SELECTOR = "mail2026"


@cache
def _pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@cache
def _signer() -> DkimSigner:
    return DkimSigner(_pem(), domain=DOMAIN, selector=SELECTOR)


def _dns(record: str) -> Callable[..., bytes | None]:
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record.encode() if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return lookup


def _verify(data: bytes) -> bool:
    return bool(dkim.verify(data, dnsfunc=_dns(_signer().dns_txt_record())))


def _message(text: str = "Xin chào,\n  hai  khoảng trắng \t\nhết\n\n\n") -> bytes:
    builder = MessageBuilder(
        from_address="news@dcnet.vn",
        from_name="Công ty DCNET",
        list_id="promotions.dcnet.vn",
        headers=[("Feedback-ID", "c1:promotions:dcnet")],
    )
    return builder.build(
        to="khach@example.com",
        subject="[QC] Ưu đãi tháng 6 cho quý khách hàng thân thiết của DCNET",
        text=text,
        html="<p>Ưu đãi</p>",
        unsubscribe_url="https://notifier.dcnet.vn/u/AQFwcm9t",
        unsubscribe_mailto="mailto:unsubscribe+AQFwcm9t@dcnet.vn",
        message_key="d7",
    )


def _h_tag(signed: bytes) -> list[str]:
    header = signed.split(b"\r\nFrom:", 1)[0].decode()
    tag = header.split("h=", 1)[1].split(";", 1)[0]
    return [name.strip() for name in tag.split(":")]


def test_signed_message_verifies_with_dkimpy() -> None:
    assert _verify(_signer().sign(_message()))


def test_ascii_text_with_whitespace_runs_verifies() -> None:
    assert _verify(_signer().sign(_message(text="a  b \t c   \n\n.\n  \n")))


def test_both_unsubscribe_headers_and_core_headers_are_signed() -> None:
    names = _h_tag(_signer().sign(_message()))
    for name in (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ):
        assert name in names


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Subject: =?utf-8?b?W1FD", b"Subject: =?utf-8?b?W0FE"),
        (b"<https://notifier.dcnet.vn/u/AQFwcm9t>", b"<https://evil.example/u/AQFwcm9t>"),
        (b"List-Unsubscribe=One-Click", b"List-Unsubscribe=One-Clack"),
        (b"To: khach@example.com", b"To: other@example.com"),
    ],
)
def test_tampered_header_or_body_fails(old: bytes, new: bytes) -> None:
    signed = _signer().sign(_message())
    assert old in signed
    assert not _verify(signed.replace(old, new, 1))


def test_one_changed_body_character_fails() -> None:
    signed = _signer().sign(_message())
    head, body = signed.split(b"\r\n\r\n", 1)
    index = body.index(b"Content-Transfer-Encoding") + 40  # inside the text part's content
    changed = body[:index] + (b"B" if body[index : index + 1] != b"B" else b"C") + body[index + 1 :]
    assert _verify(head + b"\r\n\r\n" + body)
    assert not _verify(head + b"\r\n\r\n" + changed)


def test_added_second_subject_fails() -> None:
    signed = _signer().sign(_message())
    assert not _verify(signed.replace(b"\r\nTo:", b"\r\nSubject: free money\r\nTo:", 1))


def test_wrong_key_in_dns_fails() -> None:
    other = DkimSigner(_make_other_pem(), domain=DOMAIN, selector=SELECTOR)
    signed = _signer().sign(_message())
    assert not dkim.verify(signed, dnsfunc=_dns(other.dns_txt_record()))


def _make_other_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def test_key_loads_from_file(tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(_pem())
    signer = DkimSigner.from_file(path, domain=DOMAIN, selector=SELECTOR)
    assert _verify(signer.sign(_message()))


def test_bad_keys_are_refused() -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for pem in (b"not a key", ec_pem):
        with pytest.raises(DkimKeyError):
            DkimSigner(pem, domain=DOMAIN, selector=SELECTOR)


@pytest.mark.parametrize(
    ("domain", "selector"), [("dcnet.vn; x=1", "s"), ("dcnet.vn", "s\r\nX: y")]
)
def test_bad_domain_or_selector_is_refused(domain: str, selector: str) -> None:
    with pytest.raises(DkimConfigError):
        DkimSigner(_pem(), domain=domain, selector=selector)


def test_message_without_body_separator_or_from_is_refused() -> None:
    with pytest.raises(DkimMessageError):
        _signer().sign(b"From: a@b.c\r\nSubject: x")
    with pytest.raises(DkimMessageError):
        _signer().sign(b"Subject: x\r\n\r\nbody\r\n")


@pytest.mark.parametrize(
    ("body", "canonical"),
    [
        (b"", b""),
        (b"\r\n\r\n", b""),
        (b"a \t b  \r\nc\t\r\n\r\n\r\n", b"a b\r\nc\r\n"),
        (b"no newline", b"no newline\r\n"),
        (b" lead\r\n", b" lead\r\n"),
        (b"a    b  c\r\n   d\r\n", b"a b c\r\n d\r\n"),  # spaces only: the fast path
        (b"a  \tb\r\n", b"a b\r\n"),
    ],
)
def test_relaxed_body(body: bytes, canonical: bytes) -> None:
    assert relaxed_body(body) == canonical


@pytest.mark.parametrize(
    ("field", "canonical"),
    [
        (b"Subject :  a \t b \r\n  c  ", b"subject:a b c\r\n"),
        (b"To:x@y", b"to:x@y\r\n"),
    ],
)
def test_relaxed_header(field: bytes, canonical: bytes) -> None:
    assert relaxed_header(field) == canonical
