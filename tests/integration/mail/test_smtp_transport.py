"""The SMTP transport against a real in-process aiosmtpd server."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from notifier.domain.send_outcome import SendStatus
from notifier.mail.dkim import DkimSigner
from notifier.mail.headers import InvalidAddressError
from notifier.mail.message import MessageBuilder
from notifier.mail.smtp import InvalidSmtpUrl, SmtpConfig, SmtpSecurity, Transport, TransportError
from tests.smtp_server import SmtpTestServer

SENDER = "bounce@dcnet.vn"
MESSAGE = (
    b"From: news@dcnet.vn\r\nTo: a@example.com\r\nSubject: hi\r\n\r\n"
    b".leading dot\r\n..two dots\r\nbody\r\n"
)


@pytest.fixture
def server() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as running:
        yield running


@pytest.fixture
def transport(server: SmtpTestServer) -> Iterator[Transport]:
    with Transport.from_url(server.url + "?timeout=5") as client:
        yield client


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.local", SmtpConfig(SmtpSecurity.PLAIN, "relay.local", 25)),
        ("smtp+starttls://relay.local", SmtpConfig(SmtpSecurity.STARTTLS, "relay.local", 587)),
        ("smtps://relay.local:2465", SmtpConfig(SmtpSecurity.TLS, "relay.local", 2465)),
        (
            "smtp+starttls://us%40er:p%3Aw%2Fd@relay.local:2587?verify=false&timeout=3",
            SmtpConfig(SmtpSecurity.STARTTLS, "relay.local", 2587, "us@er", "p:w/d", False, 3.0),
        ),
    ],
)
def test_smtp_url_parsing(url: str, expected: SmtpConfig) -> None:
    assert SmtpConfig.from_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://relay.local", "smtp://", "smtp://relay.local:99999", "smtp://h?timeout=x"]
)
def test_bad_smtp_urls(url: str) -> None:
    with pytest.raises(InvalidSmtpUrl):
        SmtpConfig.from_url(url)


def test_password_is_not_in_repr() -> None:
    assert "secret" not in repr(SmtpConfig.from_url("smtp://u:secret@relay.local"))


def test_sent_message_arrives_byte_for_byte(server: SmtpTestServer, transport: Transport) -> None:
    result = transport.send(SENDER, "a@example.com", MESSAGE)
    assert result.status is SendStatus.SENT and result.code == 250
    (received,) = server.messages
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["a@example.com"]
    assert received.data == MESSAGE


@pytest.mark.parametrize("data", [b".\r\n", b"..x\r\n.\r\n.y", b"a\r\n.\r\n\r\n"])
def test_dot_stuffing_is_transparent(
    server: SmtpTestServer, transport: Transport, data: bytes
) -> None:
    assert transport.send(SENDER, "a@example.com", data).status is SendStatus.SENT
    expected = data if data.endswith(b"\r\n") else data + b"\r\n"
    assert server.messages[0].data == expected


def test_connection_is_reused(server: SmtpTestServer, transport: Transport) -> None:
    results = transport.send_many(SENDER, [(f"r{i}@example.com", MESSAGE) for i in range(20)])
    assert {r.status for r in results} == {SendStatus.SENT}
    assert len(server.messages) == 20
    assert server.connections == 1


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        ("450 4.2.1 mailbox busy", SendStatus.DEFERRED, 450),
        ("452 4.3.1 insufficient storage", SendStatus.DEFERRED, 452),
        ("550 5.1.1 no such user", SendStatus.FAILED, 550),
        ("553 5.1.3 bad address", SendStatus.FAILED, 553),
    ],
)
@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_refusals_map_to_status_and_session_continues(
    server: SmtpTestServer,
    transport: Transport,
    reply: str,
    status: SendStatus,
    code: int,
    stage: str,
) -> None:
    replies = server.rcpt_replies if stage == "rcpt" else server.data_replies
    replies["refused@example.com"] = reply
    result = transport.send(SENDER, "refused@example.com", MESSAGE)
    assert (result.status, result.code) == (status, code)
    assert reply.split(" ", 1)[1] in result.message
    assert transport.send(SENDER, "ok@example.com", MESSAGE).status is SendStatus.SENT
    assert [m.rcpt_tos for m in server.messages] == [["ok@example.com"]]
    assert server.connections == 1


def test_drop_after_content_is_unknown(server: SmtpTestServer, transport: Transport) -> None:
    server.drop_after_data.add("lost@example.com")
    result = transport.send(SENDER, "lost@example.com", MESSAGE)
    assert result.status is SendStatus.UNKNOWN and result.code is None
    assert transport.send(SENDER, "ok@example.com", MESSAGE).status is SendStatus.SENT
    assert server.connections == 2


def test_idle_connection_closed_by_relay_is_reopened(
    server: SmtpTestServer, transport: Transport
) -> None:
    assert transport.send(SENDER, "a@example.com", MESSAGE).status is SendStatus.SENT
    server.drop_connections()
    assert transport.send(SENDER, "b@example.com", MESSAGE).status is SendStatus.SENT
    assert len(server.messages) == 2
    assert server.connections == 2


def test_server_restart_is_survived(server: SmtpTestServer, transport: Transport) -> None:
    assert transport.send(SENDER, "a@example.com", MESSAGE).status is SendStatus.SENT
    server.restart()
    assert transport.send(SENDER, "b@example.com", MESSAGE).status is SendStatus.SENT
    assert [m.rcpt_tos for m in server.messages] == [["a@example.com"], ["b@example.com"]]
    assert transport.connections_opened == 2


def test_unreachable_relay_raises_transport_error(server: SmtpTestServer) -> None:
    url = server.url
    server.stop()
    with Transport.from_url(url + "?timeout=2") as client, pytest.raises(TransportError):
        client.send(SENDER, "a@example.com", MESSAGE)


def test_command_injection_in_addresses_is_refused(transport: Transport) -> None:
    for sender, recipient in [
        (SENDER, "a@example.com>\r\nRCPT TO:<b@example.com"),
        ("x@y.z\r\nRSET", "a@example.com"),
    ]:
        with pytest.raises(InvalidAddressError):
            transport.send(sender, recipient, MESSAGE)


def test_null_sender_is_allowed(server: SmtpTestServer, transport: Transport) -> None:
    assert transport.send("", "a@example.com", MESSAGE).status is SendStatus.SENT
    assert server.messages[0].mail_from == "<>"


def test_auth_credentials_are_url_decoded() -> None:
    with SmtpTestServer(auth=True) as server:
        url = server.url.replace("://", "://mail%40dcnet.vn:p%40ss%3Aword@")
        with Transport.from_url(url) as client:
            assert client.send(SENDER, "a@example.com", MESSAGE).status is SendStatus.SENT
        assert server.logins == [("mail@dcnet.vn", "p@ss:word")]


def _self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """Return a server TLS context for 127.0.0.1 and the path of its certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
def test_tls_verifies_certificates_unless_the_url_says_not_to(
    tmp_path: Path, implicit: bool
) -> None:
    context, cert_path = _self_signed(tmp_path)
    with SmtpTestServer(tls_context=context, implicit_tls=implicit) as server:
        assert server.url.startswith("smtps://" if implicit else "smtp+starttls://")
        with Transport.from_url(server.url) as strict, pytest.raises(TransportError):
            strict.send(SENDER, "a@example.com", MESSAGE)
        with Transport.from_url(server.url + "?verify=false") as lax:
            assert lax.send(SENDER, "a@example.com", MESSAGE).status is SendStatus.SENT
        trusting = ssl.create_default_context(cafile=str(cert_path))
        with Transport.from_url(server.url, ssl_context=trusting) as pinned:
            assert pinned.send(SENDER, "b@example.com", MESSAGE).status is SendStatus.SENT
        assert len(server.messages) == 2


def test_built_signed_message_arrives_verifiable(
    server: SmtpTestServer, transport: Transport
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = DkimSigner(pem, domain="dcnet.vn", selector="s1")
    builder = MessageBuilder(from_address="news@dcnet.vn", from_name="DCNET", list_id="p.dcnet.vn")
    subject = "[QC] Ưu đãi tháng 6"
    data = signer.sign(
        builder.build(
            to="a@example.com",
            subject=subject,
            text=".\nDòng bắt đầu bằng dấu chấm\n",
            html="<p>Ưu đãi</p>",
            unsubscribe_url="https://n.dcnet.vn/u/T",
            unsubscribe_mailto="mailto:u+T@dcnet.vn",
            message_key="d1",
        )
    )
    assert transport.send(SENDER, "a@example.com", data).status is SendStatus.SENT
    received = server.messages[0].data
    record = signer.dns_txt_record().encode()
    assert dkim.verify(received, dnsfunc=lambda name, timeout=5: record)
    parsed = email.message_from_bytes(received, policy=email.policy.default)
    assert parsed["Subject"] == subject
