"""The chaos relay itself: each misbehaviour does what the scenarios rely on (no database)."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator

import pytest

from tests.chaos.relay import Relay, wait_for

pytestmark = pytest.mark.slow


def message(key: str) -> bytes:
    return (
        f"From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <{key}.0f1e@example.com>\r\n"
        "Subject: chaos\r\n\r\n.leading dot\r\nbody\r\n"
    ).encode()


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay()
    server.start()
    yield server
    server.stop()


def send(relay: Relay, key: str, timeout: float = 5) -> None:
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=timeout) as client:
        client.sendmail("a@example.com", ["b@example.com"], message(key))


def test_it_counts_by_message_id_key_and_sees_duplicates(relay: Relay) -> None:
    send(relay, "d1")
    send(relay, "d1")
    send(relay, "n7")
    assert relay.snapshot() == {"d1": ["d1.0f1e@example.com"] * 2, "n7": ["n7.0f1e@example.com"]}
    assert (relay.count("d"), relay.count("n"), relay.recipients["b@example.com"]) == (2, 1, 3)


def test_a_drop_after_data_queues_the_message_and_never_answers(relay: Relay) -> None:
    relay.drop_after_data("n")
    send(relay, "d2")  # not a notice: answered
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(relay, "n3")
    assert relay.dropped == ["n3"] and relay.count("n") == 1 and relay.drops_left() == 0
    send(relay, "n4")
    assert relay.count("n") == 2


def test_a_stalled_relay_answers_nothing_then_queues_what_it_was_sent(relay: Relay) -> None:
    client = smtplib.SMTP("127.0.0.1", relay.port, timeout=5)
    client.ehlo()
    relay.stall()
    client.sock.settimeout(1)  # type: ignore[union-attr]
    with pytest.raises((TimeoutError, socket.timeout, smtplib.SMTPServerDisconnected)):
        client.sendmail("a@example.com", ["b@example.com"], message("d9"))
    client.close()  # the sender gave up; its bytes are in the relay's socket buffer
    with pytest.raises((TimeoutError, socket.timeout, smtplib.SMTPServerDisconnected)):
        smtplib.SMTP("127.0.0.1", relay.port, timeout=1)  # no greeting while stalled
    assert relay.count() == 0
    relay.resume()
    send(relay, "d10")
    assert relay.count("d10") == 1


def test_a_stalled_pipelined_message_is_queued_on_resume(relay: Relay) -> None:
    """The case that makes a stall dangerous: the content went out, the reply never came back."""
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as raw:
        reader = raw.makefile("rb")
        reader.readline()
        raw.sendall(b"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        replies = [reader.readline() for _ in range(7)]
        assert replies[-1].startswith(b"354")
        relay.stall()
        raw.sendall(message("d11") + b".\r\n")
        time.sleep(0.3)
    assert relay.count() == 0
    relay.resume()
    wait_for(lambda: relay.count("d11") == 1, 5, "queued on resume")


def test_slow_replies_and_transient_refusals(relay: Relay) -> None:
    relay.reply_delay = 0.3
    began = time.monotonic()
    send(relay, "d20")
    assert time.monotonic() - began >= 0.3
    relay.reply_delay = 0.0
    relay.rate_421 = 1.0
    with pytest.raises(smtplib.SMTPException):
        send(relay, "d21")
    relay.rate_421, relay.rate_451 = 0.0, 1.0
    with pytest.raises(smtplib.SMTPException):
        send(relay, "d22")
    assert relay.count() == 1 and relay.transient_replies == {421: 1, 451: 1}
