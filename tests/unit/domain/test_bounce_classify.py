"""The pure bounce classifier over the corpus: a truth table, then hostile and broken input."""

from __future__ import annotations

import random

import pytest

from notifier.domain.bounces import MAX_REPORT_BYTES, Kind, Report, classify
from tests.bounce_samples import MESSAGE_ID, RCPT, VERP, names, sample

# sample -> (report kind, first feedback's category, enhanced status code)
BOUNCES = {
    "postfix_user_unknown.eml": (Kind.HARD_BOUNCE, "bad_mailbox", "5.1.1"),
    "postfix_legacy_notification.eml": (Kind.HARD_BOUNCE, "bad_mailbox", "5.1.1"),
    "exim_user_unknown.eml": (Kind.HARD_BOUNCE, "bad_mailbox", "5.1.1"),
    "gmail_no_such_user.eml": (Kind.HARD_BOUNCE, "bad_mailbox", "5.1.1"),
    "outlook_ndr.eml": (Kind.HARD_BOUNCE, "bad_mailbox", "5.4.1"),
    "yahoo_failure_notice.eml": (Kind.HARD_BOUNCE, "bad_mailbox", None),
    "exim_mailbox_full.eml": (Kind.SOFT_BOUNCE, "mailbox_full", "5.2.2"),
    "gmail_over_quota.eml": (Kind.SOFT_BOUNCE, "mailbox_full", "5.2.2"),
    "postfix_spam_block.eml": (Kind.SOFT_BOUNCE, "policy", "5.7.1"),
    "postfix_delayed.eml": (Kind.DELAYED, "delayed", "4.4.1"),
}
NOT_ACTIONABLE = {
    "ooo_exchange.eml": Kind.AUTO_REPLY,
    "ooo_gmail_vacation.eml": Kind.AUTO_REPLY,
    "ooo_vietnamese_subject.eml": Kind.AUTO_REPLY,
    "ordinary_reply.eml": Kind.UNKNOWN,
    "arf_not_spam.eml": Kind.UNKNOWN,
}


def test_the_corpus_is_covered() -> None:
    expected = {*BOUNCES, *NOT_ACTIONABLE, "yahoo_arf.eml", "outlook_jmrp.eml"}
    assert set(names()) - set(names("malformed_")) == expected


@pytest.mark.parametrize("name", sorted(BOUNCES))
def test_bounces(name: str) -> None:
    kind, category, status = BOUNCES[name]
    report = classify(sample(name))
    assert report.problem is None
    assert report.kind is kind
    [item] = report.feedback
    assert (item.kind, item.category, item.status, item.recipient) == (
        kind,
        category,
        status,
        RCPT,
    )
    assert RCPT not in item.diagnostic  # evidence is kept for years: no address in it
    assert report.actionable == (() if kind is Kind.DELAYED else (item,))


@pytest.mark.parametrize(
    "name",
    [
        "postfix_user_unknown.eml",
        "postfix_legacy_notification.eml",
        "gmail_no_such_user.eml",
        "outlook_ndr.eml",
    ],
)
def test_the_returned_message_is_identified(name: str) -> None:
    report = classify(sample(name))
    assert report.original_message_id == MESSAGE_ID
    assert report.original_return_path == VERP


def test_yahoo_feedback_loop_report_is_a_complaint() -> None:
    report = classify(sample("yahoo_arf.eml"))
    assert report.kind is Kind.COMPLAINT and report.problem is None
    [item] = report.actionable
    assert (item.recipient, item.category, item.reporter) == (
        RCPT,
        "abuse",
        "Yahoo!-Mail-Feedback/2.0",
    )
    assert (report.original_message_id, report.original_return_path) == (MESSAGE_ID, VERP)


def test_outlook_jmrp_report_without_recipient_still_names_the_message() -> None:
    report = classify(sample("outlook_jmrp.eml"))
    [item] = report.actionable
    assert item.kind is Kind.COMPLAINT and item.recipient is None
    assert report.original_message_id == MESSAGE_ID


@pytest.mark.parametrize("name", sorted(NOT_ACTIONABLE))
def test_auto_replies_and_other_mail_are_not_actionable(name: str) -> None:
    report = classify(sample(name))
    assert report.problem is None
    assert report.kind is NOT_ACTIONABLE[name]
    assert report.actionable == ()


@pytest.mark.parametrize("name", names("malformed_"))
def test_malformed_samples_are_rejected(name: str) -> None:
    report = classify(sample(name))
    assert report.malformed and report.problem
    assert report.actionable == ()


def test_huge_input_is_rejected_without_parsing() -> None:
    raw = sample("postfix_user_unknown.eml") + b"x" * MAX_REPORT_BYTES
    assert classify(raw).problem == f"larger than {MAX_REPORT_BYTES} bytes"


def test_empty_and_headerless_input() -> None:
    assert classify(b"").problem == "no header section"
    assert classify(b"\r\n\r\njust a body").problem == "no header section"
    assert classify("not bytes").problem == "not bytes"  # type: ignore[arg-type]


@pytest.mark.parametrize("name", names())
def test_every_truncation_of_every_sample_is_handled(name: str) -> None:
    raw = sample(name)
    for cut in range(0, len(raw), max(1, len(raw) // 60)):
        assert isinstance(classify(raw[:cut]), Report)


def test_random_bytes_never_crash() -> None:
    rng = random.Random(8)
    for _ in range(300):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        assert isinstance(classify(raw), Report)


def test_byte_flips_in_reports_never_crash() -> None:
    rng = random.Random(9)
    for name in ("gmail_no_such_user.eml", "yahoo_arf.eml", "outlook_ndr.eml"):
        raw = bytearray(sample(name))
        for _ in range(100):
            copy = bytearray(raw)
            for _ in range(20):
                copy[rng.randrange(len(copy))] = rng.randrange(256)
            assert isinstance(classify(bytes(copy)), Report)


def test_deeply_nested_multiparts_are_rejected_or_ignored() -> None:
    depth = 3000
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    raw = b'From: x@example.org\r\nContent-Type: multipart/report; boundary="top"\r\n\r\n'
    report = classify(raw + b"--top\r\n" + head + b"\r\nx\r\n")
    assert report.actionable == ()
