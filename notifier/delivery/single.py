"""One message to one address: the path notices and system mail take through the pipeline.

Each such message is a row of its own (a notice, a system mail) with a QUEUED -> SENDING claim,
so a second run of its job sends nothing, and a worker that dies leaves the row to `requeue_stale`.
The relay's answer is judged by the same rule as campaign mail (domain.send_outcome).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import update

from notifier.delivery.composer import transport
from notifier.delivery.sending import exchange_timeout, lease
from notifier.domain.send_outcome import SendResult, SendStatus
from notifier.infra.extensions import db
from notifier.mail.smtp import TransportError


def claim(model: Any, row_id: int, queued: StrEnum, sending: StrEnum, now: datetime) -> bool:
    """QUEUED -> SENDING in one statement: exactly one worker gets the row."""
    claimed = db.session.execute(
        update(model)
        .where(model.id == row_id, model.status == queued)
        .values(status=sending, claimed_at=now)
        .returning(model.id),
        execution_options={"synchronize_session": False},
    ).first()
    return claimed is not None


def send_one(envelope_sender: str, to_address: str, message: bytes) -> SendResult:
    """A relay that cannot be reached is a temporary failure: nothing left, so try again."""
    relay = transport()
    # As for campaign mail: no exchange may outlive the claim, or `requeue_stale` would give
    # the row to a second worker while this one is still sending it.
    relay.limit_timeout(exchange_timeout())
    try:
        return relay.send(envelope_sender, to_address, message)
    except TransportError as exc:
        return SendResult(SendStatus.DEFERRED, None, f"relay: {exc}")


def requeue_stale(model: Any, sending: StrEnum, queued: StrEnum, now: datetime) -> None:
    """Rows whose worker died while sending them go back to the queue (service mail may be
    sent twice rather than never: the same choice the campaign path makes for it)."""
    db.session.execute(
        update(model)
        .where(model.status == sending, model.claimed_at < now - lease())
        .values(status=queued),
        execution_options={"synchronize_session": False},
    )
