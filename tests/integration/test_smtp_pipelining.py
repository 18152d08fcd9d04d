"""RFC 2920 pipelining against a server that offers it: one round trip before the content."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.sinks import BuiltinSink
from notifier.mail.smtp import SendStatus, Transport

MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n.dot line\r\n"


@pytest.fixture
def sink() -> Iterator[BuiltinSink]:
    server = BuiltinSink()
    server.start()
    yield server
    server.stop()


def test_pipelined_sends_reuse_one_connection(sink: BuiltinSink) -> None:
    with Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport:
        results = [transport.send("a@example.com", f"r{i}@example.com", MESSAGE) for i in range(5)]
        assert transport.connections_opened == 1
    assert [r.status for r in results] == [SendStatus.SENT] * 5
    assert sink.messages == 5
    assert sink.recipients == {f"r{i}@example.com": 1 for i in range(5)}


def test_a_refused_recipient_in_a_pipeline_fails_and_the_next_goes(sink: BuiltinSink) -> None:
    sink.rcpt_replies["gone@example.com"] = b"550 5.1.1 unknown user\r\n"
    with Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport:
        refused = transport.send("a@example.com", "gone@example.com", MESSAGE)
        accepted = transport.send("a@example.com", "here@example.com", MESSAGE)
    assert (refused.status, refused.code) == (SendStatus.FAILED, 550)
    assert accepted.status is SendStatus.SENT
    assert sink.recipients == {"here@example.com": 1}
