"""flufl.bounce beside our parsers: the combination misses nothing either one recognises."""

from __future__ import annotations

import email
from pathlib import Path

import pytest
from flufl.bounce import all_failures

from bench.bounce_compare import family_table, rows, sample_table
from notifier.domain.bounces import Kind, Report, classify
from notifier.domain.bounces.detectors import MAX_SCAN_BYTES, failures
from tests.bounce_samples import MAILMAN, RCPT, corpus, sample

CORPUS = dict(corpus())
RECOGNISED = (Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE, Kind.DELAYED, Kind.COMPLAINT)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "bounces.md"


def recognised(report: Report) -> bool:
    return not report.malformed and any(item.kind in RECOGNISED for item in report.feedback)


def addresses(report: Report) -> set[str]:
    return {item.recipient for item in report.feedback if item.recipient}


def flufl_alone(raw: bytes) -> set[str]:
    """Straight from flufl.bounce's public API, so the check does not trust our wrapper."""
    try:
        temporary, permanent = all_failures(email.message_from_bytes(raw))
    except IndexError:  # its Yale detector, on garbage bytes
        return set()
    return {item.decode().lower() for item in temporary | permanent}


def test_the_corpus_holds_mailmans_samples() -> None:
    assert len(CORPUS) > 130 and (MAILMAN / "LICENSE").is_file()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_combination_recognises_what_either_one_recognises(name: str) -> None:
    raw = CORPUS[name]
    ours, theirs, chosen = classify(raw, detectors=False), flufl_alone(raw), classify(raw)
    if recognised(ours) or theirs:
        assert recognised(chosen)
    assert theirs <= addresses(chosen)
    if not theirs:
        assert chosen == ours


# sample -> (report kind, [(recipient, kind, category, status)]) as chosen in docs/bounces.md
VERDICTS = {
    # Postfix before DSNs: our first-address guess names the postmaster, flufl.bounce the rcpt.
    "postfix_legacy_notification.eml": (
        Kind.HARD_BOUNCE, [(RCPT, Kind.HARD_BOUNCE, "bad_mailbox", "5.1.1")],
    ),
    "mailman/postfix_01.txt": (
        Kind.HARD_BOUNCE, [("xxxxx@local.ie", Kind.HARD_BOUNCE, "bad_mailbox", "5.1.1")],
    ),
    # Original-Recipient (what we sent to) over Final-Recipient (the mailbox it became).
    "mailman/dsn_01.txt": (
        Kind.SOFT_BOUNCE, [("userx@example.com", Kind.SOFT_BOUNCE, "unexplained", "5.0.0")],
    ),
    "mailman/dsn_17.txt": (Kind.DELAYED, [("userx@example.fi", Kind.DELAYED, "delayed", None)]),
    # A warning that the server keeps trying is no bounce (ours alone counted it as one).
    "mailman/simple_21.txt": (
        Kind.DELAYED, [("userx@example.com", Kind.DELAYED, "delayed", None)],
    ),
    # A Sieve rejection (RFC 5429) comes as a disposition notification.
    "mailman/simple_38.txt": (
        Kind.SOFT_BOUNCE, [("userx@example.com", Kind.SOFT_BOUNCE, "mailbox_full", None)],
    ),
    "mailman/netscape_01.txt": (
        Kind.SOFT_BOUNCE,
        [("aaaaa@corel.com", Kind.SOFT_BOUNCE, "unexplained", None),
         ("bbbbb@corel.com", Kind.SOFT_BOUNCE, "unexplained", None)],
    ),
    "mailman/yahoo_13.txt": (
        Kind.HARD_BOUNCE,
        [("bogus-address@example.net", Kind.HARD_BOUNCE, "bad_mailbox", "5.1.1")],
    ),
    # "2.0.13" in the text is a version number, not a status.
    "mailman/bounce_03.txt": (
        Kind.SOFT_BOUNCE, [("userx@example.uk", Kind.SOFT_BOUNCE, "unexplained", None)],
    ),
    "mailman/qmail_08.txt": (Kind.AUTO_REPLY, []),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_chosen_verdicts(name: str) -> None:
    kind, expected = VERDICTS[name]
    report = classify(CORPUS[name])
    assert report.kind is kind and report.problem is None
    found = [(i.recipient, i.kind, i.category, i.status) for i in report.feedback]
    assert found == expected
    assert not any("@" in item.diagnostic for item in report.feedback)


def test_the_returned_message_still_names_our_delivery() -> None:
    report = classify(sample("postfix_legacy_notification.eml"))
    assert report.original_message_id and report.original_return_path


def test_a_detector_that_raises_leaves_our_reading() -> None:
    raw = sample("malformed_garbage_bytes.eml")
    with pytest.raises(IndexError):
        all_failures(email.message_from_bytes(raw))
    report = classify(raw)
    assert report.malformed and report == classify(raw, detectors=False)


def test_a_padded_bounce_is_not_scanned_line_by_line() -> None:
    """flufl.bounce spends about 2 s per MiB of crafted lines: past the bound it is not asked."""
    raw = CORPUS["mailman/simple_20.txt"]
    assert failures(email.message_from_bytes(raw), len(raw))
    padded = raw.replace(b"\n\n", b"\nX-Pad: " + b"p" * MAX_SCAN_BYTES + b"\n\n", 1)
    assert not failures(email.message_from_bytes(padded), len(padded))
    assert classify(padded) == classify(padded, detectors=False)
    assert not recognised(classify(padded))


def test_the_bounce_itself_is_never_a_recipient() -> None:
    """Its From and To (the mailer daemon, our VERP address) are not what bounced."""
    raw = CORPUS["mailman/simple_20.txt"]
    message = email.message_from_bytes(raw)
    found = failures(message, len(raw))
    assert not failures(message, len(raw), frozenset(found.permanent))


def test_the_comparison_in_the_docs_is_what_the_bench_prints() -> None:
    text, found = DOCS.read_text(encoding="utf-8"), rows()
    assert family_table(found) in text
    assert sample_table(found) in text
