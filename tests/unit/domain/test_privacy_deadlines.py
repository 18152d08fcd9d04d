"""The privacy-request deadline rule, as a truth table over the days of the week."""

from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.privacy_deadlines import COMPLETE_WITHIN, deadlines

VIETNAM = "Asia/Ho_Chi_Minh"


@pytest.mark.parametrize(
    ("received", "acknowledge_by"),
    [
        # Monday 09:00 in Vietnam: Wednesday 09:00, inside the 72 hours.
        (datetime(2026, 11, 23, 2, 0, tzinfo=UTC), datetime(2026, 11, 25, 2, 0, tzinfo=UTC)),
        # Tuesday: Thursday.
        (datetime(2026, 11, 24, 2, 0, tzinfo=UTC), datetime(2026, 11, 26, 2, 0, tzinfo=UTC)),
        # Wednesday: Friday.
        (datetime(2026, 11, 25, 2, 0, tzinfo=UTC), datetime(2026, 11, 27, 2, 0, tzinfo=UTC)),
        # Thursday 05:42 in Vietnam (the day CI failed): 2 working days end on Monday, after
        # the 72 hours, so the acknowledgement is due with the completion.
        (datetime(2026, 11, 25, 22, 42, tzinfo=UTC), datetime(2026, 11, 28, 22, 42, tzinfo=UTC)),
        # Friday: Tuesday by working days, so the 72 hours win.
        (datetime(2026, 11, 27, 2, 0, tzinfo=UTC), datetime(2026, 11, 30, 2, 0, tzinfo=UTC)),
        # Saturday and Sunday: the weekend does not count.
        (datetime(2026, 11, 28, 2, 0, tzinfo=UTC), datetime(2026, 12, 1, 2, 0, tzinfo=UTC)),
        (datetime(2026, 11, 29, 2, 0, tzinfo=UTC), datetime(2026, 12, 1, 2, 0, tzinfo=UTC)),
    ],
)
def test_acknowledge_by_is_two_working_days_capped_by_completion(
    received: datetime, acknowledge_by: datetime
) -> None:
    due = deadlines(received, VIETNAM)
    assert due.acknowledge_by == acknowledge_by
    assert due.complete_by == received + COMPLETE_WITHIN


def test_working_days_are_counted_in_the_companys_zone() -> None:
    # Wednesday 20:00 UTC is already Thursday 03:00 in Vietnam, so the weekend falls inside
    # the 2 working days there, and the 72 hours win; in UTC it is Friday 20:00.
    received = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    assert deadlines(received, VIETNAM).acknowledge_by == received + COMPLETE_WITHIN
    assert deadlines(received, "UTC").acknowledge_by == received + timedelta(days=2)


@pytest.mark.parametrize("day", range(14))
def test_acknowledgement_never_comes_after_completion(day: int) -> None:
    received = datetime(2026, 11, 16, 17, 59, tzinfo=UTC) + timedelta(days=day, hours=day)
    due = deadlines(received, VIETNAM)
    assert received < due.acknowledge_by <= due.complete_by


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        deadlines(datetime(2026, 11, 26, 9, 0), VIETNAM)
