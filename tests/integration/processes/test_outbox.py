"""The built-in outbox SMTP server on a real database: Vietnamese, malformed, large, bulk mail."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.header import Header

import pytest
import sqlalchemy as sa
from flask import Flask

from notifier.infra.extensions import db
from notifier.models import OutboxMessage
from notifier.processes.outbox import HOST, OutboxError, OutboxHandler, OutboxStore, running_outbox

VIETNAMESE = (
    "From: =?utf-8?b?VGjDtG5nIGLDoW8=?= <thongbao@dcnet.example.vn>\r\n"
    "To: Nguyễn Thị Lan <lan@example.com>\r\n"
    "Subject: [QC] Ưu đãi tháng 10: giảm 20% gói hosting cho Quý khách\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Kính gửi Quý khách Nguyễn Thị Lan,\r\n"
    ".dòng bắt đầu bằng dấu chấm vẫn còn nguyên.\r\n"
).encode()


@pytest.fixture
def outbox(app: Flask) -> Iterator[int]:
    with running_outbox(app, port=0) as running:
        yield running.port


def stored() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def send(port: int, raw: bytes, sender: str = "thongbao@dcnet.example.vn", **kw: object) -> None:
    with smtplib.SMTP(HOST, port) as smtp:
        smtp.sendmail(sender, ["lan@example.com"], raw, **kw)  # type: ignore[arg-type]


def test_a_vietnamese_utf8_message_is_stored_with_its_decoded_subject_and_exact_bytes(
    outbox: int,
) -> None:
    send(outbox, VIETNAMESE, sender="thông.báo@dcnet.example.vn", mail_options=["SMTPUTF8"])
    [message] = stored()
    assert message.subject == "[QC] Ưu đãi tháng 10: giảm 20% gói hosting cho Quý khách"
    assert message.raw == VIETNAMESE
    assert message.mail_from == "thông.báo@dcnet.example.vn"
    assert message.recipients == ["lan@example.com"]


def test_a_folded_encoded_word_subject_is_decoded(outbox: int) -> None:
    subject = "Thông báo gia hạn tên miền dcnet.vn — còn 7 ngày"
    encoded = Header(subject, "utf-8").encode(linesep="\r\n")
    assert "\r\n =?utf-8?b?" in encoded  # folded over two encoded words
    raw = f"Subject: {encoded}\r\nFrom: thongbao@dcnet.example.vn\r\n\r\nxin chào\r\n".encode()
    send(outbox, raw)
    [message] = stored()
    assert message.subject == subject
    assert message.raw == raw


def _talk(port: int, lines: list[bytes]) -> bytes:
    """Speak raw SMTP, then QUIT and read every reply until the server hangs up."""
    with socket.create_connection((HOST, port), timeout=10) as conn:
        for line in [*lines, b"\r\nQUIT\r\n"]:
            conn.sendall(line)
        replies = b""
        while chunk := conn.recv(65536):
            replies += chunk
        return replies


MALFORMED_BODIES = [
    b"no headers at all, just text\r\n",
    b"Subject: =?x-unknown?b?AAAA?=\r\nSubject: twice\r\n\r\nbody\r\n",
    b"Subject: \xff\xfe not utf-8 \xc3\r\n\r\n\x00\x01 binary \x00\r\n",
    b"Subject: =?utf-8?q?never closed\r\n: no name\r\n\tcontinuation first\r\n",
    b"Subject: " + b"x" * 5000 + b"\r\n\r\n" + b"y" * 20000 + b"\r\n",
]


@pytest.mark.parametrize("body", MALFORMED_BODIES)
def test_malformed_mail_is_stored_as_well_as_it_can_be(outbox: int, body: bytes) -> None:
    envelope = b"EHLO test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
    replies = _talk(outbox, [envelope, body, b".\r\n"])
    assert b"250 2.0.0 Stored in the outbox" in replies
    [message] = stored()
    assert message.raw == body
    assert "\x00" not in message.subject and len(message.subject) <= 1000


def test_protocol_garbage_does_not_stop_the_server(outbox: int) -> None:
    _talk(outbox, [b"\x00\xff\xfe garbage\r\n", b"MAIL FROM:<<<>>>\r\n", b"DATA\r\n"])
    with socket.create_connection((HOST, outbox), timeout=10) as abandoned:  # hangs up mid-DATA
        abandoned.sendall(b"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
        abandoned.sendall(b"DATA\r\nSubject: half\r\n")
    send(outbox, VIETNAMESE, mail_options=["SMTPUTF8"])
    assert [m.raw for m in stored()] == [VIETNAMESE]


def test_a_large_message_is_stored_intact(outbox: int) -> None:
    line = ("Nội dung dài. " * 5 + "\r\n").encode()
    raw = VIETNAMESE + line * (20 * 1024 * 1024 // len(line))
    send(outbox, raw, mail_options=["SMTPUTF8"])
    [message] = stored()
    assert len(message.raw) > 20 * 1024 * 1024
    assert message.raw == raw


def test_a_burst_from_parallel_connections_is_stored_in_batched_inserts(
    app: Flask, outbox: int
) -> None:
    inserts = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX_MESSAGES"):
            inserts.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)

    def connection(worker: int) -> None:
        with smtplib.SMTP(HOST, outbox) as smtp:
            for n in range(50):
                raw = VIETNAMESE.replace(b"[QC]", f"[QC] #{worker}-{n}".encode())
                smtp.sendmail("thongbao@dcnet.example.vn", ["lan@example.com"], raw, ["SMTPUTF8"])

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(connection, range(8)))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    subjects = {m.subject.split()[1] for m in stored()}
    assert subjects == {f"#{w}-{n}" for w in range(8) for n in range(50)}
    assert len(inserts) < 400


def test_a_database_failure_answers_451_and_keeps_serving(app: Flask) -> None:
    from aiosmtpd.controller import Controller

    store = OutboxStore(sa.create_engine("sqlite://"))  # no tables: every INSERT fails
    controller = Controller(OutboxHandler(store), hostname=HOST, port=_free_port())
    controller.start()
    try:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError) as failure:
                send(controller.port, VIETNAMESE, mail_options=["SMTPUTF8"])
            assert failure.value.smtp_code == 451
    finally:
        controller.stop()
        store.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def test_a_taken_port_is_a_clear_error(app: Flask, outbox: int) -> None:
    with (
        pytest.raises(OutboxError, match=f"cannot listen on {HOST}:{outbox}"),
        running_outbox(app, port=outbox),
    ):
        pass
