"""How the recovery reads a dead worker's journal: which row may have been on the wire."""

from __future__ import annotations

from notifier.delivery.recovery import _settle
from notifier.delivery.sending import BACK_FROM_NOTICES, LENT_TO_NOTICES
from notifier.models import DeliveryStatus

CAMPAIGN = 7
ROWS = [(1, CAMPAIGN), (2, CAMPAIGN), (3, CAMPAIGN)]


def statuses(entries: list[str]) -> list[str]:
    return [str(change["status"]) for change in _settle(ROWS, entries, {CAMPAIGN})]


def test_the_first_unrecorded_row_may_have_been_on_the_wire() -> None:
    assert statuses(["1|sent|250|<a@x>"]) == [
        DeliveryStatus.SENT,
        DeliveryStatus.UNKNOWN,
        DeliveryStatus.PENDING,
    ]


def test_a_worker_that_died_serving_notices_had_no_row_of_the_batch_on_the_wire() -> None:
    assert statuses(["1|sent|250|<a@x>", LENT_TO_NOTICES]) == [
        DeliveryStatus.SENT,
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
    ]


def test_once_back_from_the_notices_the_next_row_may_be_on_the_wire_again() -> None:
    assert statuses(["1|sent|250|<a@x>", LENT_TO_NOTICES, BACK_FROM_NOTICES]) == [
        DeliveryStatus.SENT,
        DeliveryStatus.UNKNOWN,
        DeliveryStatus.PENDING,
    ]
