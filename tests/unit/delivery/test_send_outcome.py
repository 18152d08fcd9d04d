"""The one rule for a relay's answer, shared by campaign mail, notices and system mail."""

from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.send_outcome import (
    Fate,
    Reason,
    RelayBackoff,
    RetryPolicy,
    SendStatus,
    judge,
    render_failed,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(limit=4, base=timedelta(seconds=10))


@pytest.mark.parametrize(
    ("status", "attempts", "resend_unknown", "fate", "reason", "tried", "wait"),
    [
        (SendStatus.SENT, 0, False, Fate.SENT, None, 0, None),
        (SendStatus.SENT, 2, True, Fate.SENT, None, 2, None),
        (SendStatus.FAILED, 0, True, Fate.FAILED, Reason.SMTP_PERMANENT, 0, None),
        (SendStatus.DEFERRED, 0, False, Fate.RETRY, Reason.SMTP_TEMPORARY, 1, 10),
        (SendStatus.DEFERRED, 1, False, Fate.RETRY, Reason.SMTP_TEMPORARY, 2, 20),
        (SendStatus.DEFERRED, 2, True, Fate.RETRY, Reason.SMTP_TEMPORARY, 3, 40),
        (SendStatus.DEFERRED, 3, False, Fate.FAILED, Reason.RETRIES_EXHAUSTED, 4, None),
        # Advertising whose fate is unknown is never sent again: a duplicate is worse.
        (SendStatus.UNKNOWN, 0, False, Fate.UNKNOWN, Reason.CONNECTION_LOST, 0, None),
        # Service mail is: a lost renewal notice is worse than a second one.
        (SendStatus.UNKNOWN, 0, True, Fate.RETRY, Reason.RESEND_AFTER_UNKNOWN, 1, 10),
        (SendStatus.UNKNOWN, 3, True, Fate.FAILED, Reason.RETRIES_EXHAUSTED, 4, None),
    ],
)
def test_judge(
    status: SendStatus,
    attempts: int,
    resend_unknown: bool,
    fate: Fate,
    reason: Reason | None,
    tried: int,
    wait: int | None,
) -> None:
    verdict = judge(status, attempts, POLICY, NOW, resend_unknown=resend_unknown)
    assert (verdict.fate, verdict.reason, verdict.attempts) == (fate, reason, tried)
    expected = None if wait is None else NOW + timedelta(seconds=wait)
    assert verdict.next_attempt_at == expected


def test_a_render_failure_is_never_an_smtp_reason() -> None:
    verdict = render_failed(2)
    assert (verdict.fate, verdict.reason, verdict.attempts) == (
        Fate.FAILED,
        Reason.RENDER_FAILED,
        2,
    )


@pytest.mark.parametrize(("attempts", "seconds"), [(0, 10), (1, 10), (2, 20), (5, 160)])
def test_backoff_doubles(attempts: int, seconds: int) -> None:
    assert POLICY.wait(attempts) == timedelta(seconds=seconds)


def test_retries_are_spread_around_their_exponential_wait() -> None:
    draws = iter([0.0, 0.999, 0.5])
    policy = RetryPolicy(limit=4, base=timedelta(seconds=4), jitter=0.5, draw=lambda: next(draws))
    assert policy.wait(1) == timedelta(seconds=2)  # the earliest: half the wait
    assert timedelta(seconds=11.9) < policy.wait(2) < timedelta(seconds=12)  # 8 s, +50 %
    assert policy.wait(3) == timedelta(seconds=16)


def test_the_first_retry_of_the_default_policy_comes_within_seconds(app: object) -> None:
    from notifier.delivery.sending import retry_policy

    waits = {retry_policy().wait(1) for _ in range(50)}
    assert max(waits) <= timedelta(seconds=10)
    assert len(waits) > 1  # jittered, not one instant for every refused message


def test_the_wait_follows_the_domains_failures_in_a_row_not_the_messages_tries() -> None:
    backoff = RelayBackoff()
    steps = [backoff.record(f"m{n}@Slow.vn", SendStatus.DEFERRED) for n in range(7)]
    assert steps == [1, 1, 1, 2, 2, 2, 3]  # the domain's failures in a row, three a step
    assert backoff.record("a@other.vn", SendStatus.UNKNOWN) == 1  # each domain on its own
    assert backoff.record("a@slow.vn", SendStatus.SENT) == 0  # the path works again
    assert backoff.record("a@slow.vn", SendStatus.DEFERRED) == 1
    assert backoff.record("b@other.vn", SendStatus.FAILED) == 0  # a 5xx is an answer too
    assert backoff.record("c@other.vn", SendStatus.DEFERRED) == 1
    # A message refused again while its domain is otherwise fine waits as the domain does for
    # its first three retries (random refusals cost seconds), then backs off on its own
    # (greylisting, a full mailbox need minutes).
    policy = RetryPolicy(12, timedelta(seconds=2))
    waits = [
        judge(
            SendStatus.DEFERRED, attempts, policy, NOW, resend_unknown=False, streak=1
        ).next_attempt_at
        - NOW  # type: ignore[operator]
        for attempts in range(11)
    ]
    assert [w.total_seconds() for w in waits] == [2, 2, 2, 2, 4, 8, 16, 32, 64, 128, 256]
    assert sum(waits, timedelta()) > timedelta(minutes=8)  # a greylisting relay is outwaited


def test_a_domain_that_keeps_failing_is_still_tried_hourly() -> None:
    policy = RetryPolicy(limit=50, base=timedelta(seconds=2))
    assert policy.wait(30) == timedelta(hours=1)


def test_a_relay_down_for_thousands_of_messages_still_gets_an_hourly_retry() -> None:
    """A relay refusing every connection for a whole campaign makes its streak, and so the
    backoff step, grow into the thousands: the wait stays the cap, never an overflow."""
    backoff = RelayBackoff()
    streak = 0
    for n in range(10_000):
        streak = backoff.record(f"m{n}@down.vn", SendStatus.DEFERRED)
    assert streak > 1_000
    policy = RetryPolicy(limit=12, base=timedelta(seconds=2))
    verdict = judge(SendStatus.DEFERRED, 0, policy, NOW, resend_unknown=False, streak=streak)
    assert verdict.next_attempt_at == NOW + timedelta(hours=1)
    assert policy.wait(10**6) == timedelta(hours=1)
