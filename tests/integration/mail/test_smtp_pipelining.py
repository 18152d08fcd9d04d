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
    """One connection, results in order, each known before the next content leaves."""
    with Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport:
        results = []
        with Pipeline(transport) as pipeline:
            for i in range(20):
                done = pipeline.send(i, "a@example.com", f"r{i}@example.com", MESSAGE)
                # the previous message's result comes back as this one starts: never two held
                assert [tag for tag, _ in done] == ([] if i == 0 else [i - 1])
                assert sink.messages == i  # this message's content has not left yet
                results += done
            results += pipeline.finish()
        assert transport.connections_opened == 1
    assert [tag for tag, _ in results] == list(range(20))
    assert {r.status for _, r in results} == {SendStatus.SENT}
    assert sink.recipients == {f"r{i}@example.com": 1 for i in range(20)}


def test_a_refused_recipient_mid_pipeline_fails_alone(sink: BuiltinSink) -> None:
    sink.rcpt_replies["gone@example.com"] = b"550 5.1.1 unknown user\r\n"
    addresses = ["a@x.example", "gone@example.com", "b@x.example"]
    results = []
    with (
        Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport,
        Pipeline(transport) as pipeline,
    ):
        for address in addresses:
            results += pipeline.send(address, "s@example.com", address, MESSAGE)
        results += pipeline.finish()
    by_address = {tag: result for tag, result in results}
    assert (by_address["gone@example.com"].status, by_address["gone@example.com"].code) == (
        SendStatus.FAILED,
        550,
    )
    assert by_address["a@x.example"].status is by_address["b@x.example"].status is SendStatus.SENT
    assert sink.recipients == {"a@x.example": 1, "b@x.example": 1}


def test_leaving_a_pipeline_with_a_message_held_sends_nothing_for_it(sink: BuiltinSink) -> None:
    with Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport:
        with pytest.raises(RuntimeError), Pipeline(transport) as pipeline:
            pipeline.send(1, "a@example.com", "held@example.com", MESSAGE)
            raise RuntimeError("the caller failed")
        assert not transport.connected()  # the session with DATA open was dropped
        after = transport.send("a@example.com", "next@example.com", MESSAGE)
        assert after.status is SendStatus.SENT
    assert sink.recipients == {"next@example.com": 1}


def test_a_flaky_relay_never_gets_a_message_twice_from_a_pipeline(sink: BuiltinSink) -> None:
    """451s and dropped connections: each message ends sent, deferred or unknown, once."""
    sink.fault_rate = 0.1
    with Transport.from_url(f"smtp://127.0.0.1:{sink.port}") as transport:
        results = []
        with Pipeline(transport) as pipeline:
            for i in range(300):
                results += pipeline.send(i, "a@example.com", f"r{i}@example.com", MESSAGE)
            results += pipeline.finish()
    assert [tag for tag, _ in results] == list(range(300))
    status = {f"r{tag}@example.com": result.status for tag, result in results}
    sent = {a for a, s in status.items() if s is SendStatus.SENT}
    unknown = {a for a, s in status.items() if s is SendStatus.UNKNOWN}
    assert max(sink.recipients.values()) == 1
    assert sent <= set(sink.recipients) <= sent | unknown  # nothing arrived unaccounted for
    assert SendStatus.DEFERRED in set(status.values())  # the faults really happened
    assert len(sent) > 150
