"""RFC 2920 pipelining against a server that offers it: one round trip before the content."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.sinks import BuiltinSink
from notifier.domain.send_outcome import SendStatus
from notifier.mail.pipeline import Pipeline
from notifier.mail.smtp import Transport

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


def test_a_pipeline_sends_each_content_with_the_next_envelope(sink: BuiltinSink) -> None:
    """One connection, results in order, each known before the next content leaves; the
    replies to a write are read when the next message is handed over."""
    with Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport:
        results: list = []
        with Pipeline(transport, results.extend) as pipeline:
            for i in range(20):
                pipeline.send(i, "a@example.com", f"r{i}@example.com", MESSAGE)
                # this call read the replies to the last write: message i-2's content went
                # with i-1's envelope, so i-2's result is known, and i-1's content just left
                assert [tag for tag, _ in results] == list(range(max(0, i - 1)))
                assert sink.messages <= i  # never this message's content, never two unread
            pipeline.finish()
        assert transport.connections_opened == 1
    assert [tag for tag, _ in results] == list(range(20))
    assert {r.status for _, r in results} == {SendStatus.SENT}
    assert sink.recipients == {f"r{i}@example.com": 1 for i in range(20)}


def test_a_refused_recipient_mid_pipeline_fails_alone(sink: BuiltinSink) -> None:
    sink.rcpt_replies["gone@example.com"] = b"550 5.1.1 unknown user\r\n"
    addresses = ["a@x.example", "gone@example.com", "b@x.example"]
    results: list = []
    with (
        Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport,
        Pipeline(transport, results.extend) as pipeline,
    ):
        for address in addresses:
            pipeline.send(address, "s@example.com", address, MESSAGE)
        pipeline.finish()
    by_address = {tag: result for tag, result in results}
    assert (by_address["gone@example.com"].status, by_address["gone@example.com"].code) == (
        SendStatus.FAILED,
        550,
    )
    assert by_address["a@x.example"].status is by_address["b@x.example"].status is SendStatus.SENT
    assert sink.recipients == {"a@x.example": 1, "b@x.example": 1}


def test_leaving_a_pipeline_with_a_message_held_sends_nothing_for_it(sink: BuiltinSink) -> None:
    with Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport:
        with pytest.raises(RuntimeError), Pipeline(transport, list().extend) as pipeline:
            pipeline.send(1, "a@example.com", "held@example.com", MESSAGE)
            pipeline.send(2, "a@example.com", "second@example.com", MESSAGE)
            raise RuntimeError("the caller failed")
        assert not transport.connected()  # the session with replies unread was dropped
        after = transport.send("a@example.com", "next@example.com", MESSAGE)
        assert after.status is SendStatus.SENT
    # The first content left with the second envelope; the second content never did.
    assert sink.recipients == {"held@example.com": 1, "next@example.com": 1}


def test_an_abandoned_pipeline_reads_what_left_and_drops_the_held_content(
    sink: BuiltinSink,
) -> None:
    """A batch whose claim the recovery took keeps nothing back but sends nothing more."""
    with Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport:
        results: list = []
        with Pipeline(transport, results.extend) as pipeline:
            for i in range(3):
                pipeline.send(i, "a@example.com", f"r{i}@example.com", MESSAGE)
            pipeline.abandon()
        assert not transport.connected()
    assert [tag for tag, _ in results] == [0, 1]
    assert sink.recipients == {"r0@example.com": 1, "r1@example.com": 1}


def test_a_flaky_relay_never_gets_a_message_twice_from_a_pipeline(sink: BuiltinSink) -> None:
    """451s and dropped connections: each message ends sent, deferred or unknown, once."""
    sink.fault_rate = 0.1
    with Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport:
        results: list = []
        with Pipeline(transport, results.extend) as pipeline:
            for i in range(300):
                pipeline.send(i, "a@example.com", f"r{i}@example.com", MESSAGE)
                unread = [tag for tag, _ in results]
                assert unread == sorted(unread)  # in order, each once
            pipeline.finish()
    assert [tag for tag, _ in results] == list(range(300))
    status = {f"r{tag}@example.com": result.status for tag, result in results}
    sent = {a for a, s in status.items() if s is SendStatus.SENT}
    unknown = {a for a, s in status.items() if s is SendStatus.UNKNOWN}
    assert max(sink.recipients.values()) == 1
    assert sent <= set(sink.recipients) <= sent | unknown  # nothing arrived unaccounted for
    assert SendStatus.DEFERRED in set(status.values())  # the faults really happened
    assert len(sent) > 150
