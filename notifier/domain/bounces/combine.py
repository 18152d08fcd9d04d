"""Our reading of a bounce joined with flufl.bounce's: it finds addresses, we judge them."""

from __future__ import annotations

from email.message import Message

from notifier.domain.bounces import mime
from notifier.domain.bounces.detectors import Failures
from notifier.domain.bounces.dsn import original_ids, overall, words_after
from notifier.domain.bounces.model import Feedback, Kind, Report
from notifier.domain.bounces.status import classify_status, redact

REPORTER = "flufl.bounce"


def combine(message: Message, report: Report, found: Failures) -> Report:
    """The verdicts chosen per sample family in docs/bounces.md ("Two detectors").

    A readable RFC 3464 report keeps every recipient it names, with its status code; addresses
    only flufl.bounce saw are added. A text bounce, a broken report or unrecognised mail takes
    flufl.bounce's addresses instead of our first-address guess, which often names a postmaster.
    """
    if not found:
        return report
    structured = not report.malformed and all(item.reporter != "text" for item in report.feedback)
    kept = report.feedback if structured else ()
    known = {item.recipient for item in kept}
    body = mime.text(message)
    added = tuple(
        [_failed(address, body) for address in found.permanent if address not in known]
        + [_delayed(address, body) for address in found.temporary if address not in known]
    )
    feedback = kept + added
    ids = (
        (report.original_message_id, report.original_return_path)
        if report.original_message_id or report.original_return_path
        else original_ids(list(mime.walk(message)))
    )
    return Report(overall(feedback), feedback, *ids)


def _failed(address: str, body: str) -> Feedback:
    """flufl.bounce says the address failed for good; our status rules say how bad that is."""
    tail = _tail(address, body)
    kind, category, status = classify_status(None, tail)
    if kind is Kind.UNKNOWN:
        # Failed without words we can read (a 2.x.x there is a version number or a date):
        # counted, but one alone never suppresses.
        kind, category, status = Kind.SOFT_BOUNCE, "unexplained", None
    return Feedback(kind, address, status, category, redact(tail), REPORTER)


def _delayed(address: str, body: str) -> Feedback:
    """A warning that the sending server keeps trying: nothing to act on yet."""
    return Feedback(Kind.DELAYED, address, None, "delayed", redact(_tail(address, body)), REPORTER)


def _tail(address: str, body: str) -> str:
    at = body.lower().find(address)
    return words_after(body, at + len(address)) if at >= 0 else ""
