"""RSVP to event campaigns: the registration a signed link allows, its confirmation mail, the
count per campaign, and the reminder before the event (the scheduler's task). Rules in
domain/rsvp.py; each entry point commits (docs/design.md, units of work)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from notifier.delivery.composer import rsvp_link
from notifier.delivery.rendering.samples import localized
from notifier.delivery.system_mail import SEND_JOB
from notifier.domain import rsvp as rules
from notifier.domain.errors import DomainError, NotFound
from notifier.domain.tokens import InvalidToken
from notifier.infra.context import public_base_url, token_secret
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, enqueue_after_commit
from notifier.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Contact,
    Rsvp,
    SystemMail,
    SystemMailKind,
    SystemMailStatus,
)
from notifier.operations.access import Access, csv_value

# At most this many reminders a round, as the renewal reminders (docs/reminders.md).
BATCH = 5_000
# An event can be registered for once its invitations may have gone out.
INVITED = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.DONE)
EVENT_FIELDS = ("event_name", "starts_at", "ends_at", "venue", "address")


class EventStarted(DomainError):
    """The event has started (or has no start): registering and cancelling are over."""


@dataclass(frozen=True)
class Invitation:
    """What an RSVP link names: the event campaign, the contact, and their registration."""

    campaign: Campaign
    contact: Contact
    event: Mapping[str, Any]  # the campaign data in the contact's language
    starts_at: datetime
    registered: bool


def rsvp_url(campaign_id: int, contact_id: int) -> str:
    return rsvp_link(token_secret(), public_base_url(), campaign_id, contact_id)


def invitation(token: str, now: datetime) -> Invitation:
    """The invitation a token names; NotFound for a bad token, another campaign kind, an erased
    contact; EventStarted when it is too late."""
    try:
        campaign_id, contact_id = rules.read_rsvp_token(token_secret(), token)
    except InvalidToken:
        raise NotFound("rsvp link") from None
    campaign = db.session.get(Campaign, campaign_id)
    contact = db.session.get(Contact, contact_id)
    if campaign is None or campaign.kind != CampaignKind.EVENT or campaign.status not in INVITED:
        raise NotFound(f"event campaign {campaign_id}")
    if contact is None or contact.erased_at is not None or not contact.email:
        raise NotFound(f"contact {contact_id}")
    starts_at = rules.starts_at_of(dict(localized(campaign.data or {}, "vi")))
    if starts_at is None or not rules.open_for_rsvp(starts_at, now):
        raise EventStarted(f"campaign {campaign_id}")
    row = _row(campaign_id, contact_id)
    registered = row is not None and row.cancelled_at is None
    event = localized(campaign.data or {}, contact.locale)
    return Invitation(campaign, contact, event, starts_at, registered)


def _row(campaign_id: int, contact_id: int) -> Rsvp | None:
    return db.session.scalar(
        select(Rsvp).where(Rsvp.campaign_id == campaign_id, Rsvp.contact_id == contact_id)
    )


def register(token: str, now: datetime) -> tuple[Invitation, bool]:
    """Record the RSVP once and queue its confirmation in the same transaction. True when this
    call registered; False when the contact already was (nothing new is written)."""
    found = invitation(token, now)
    campaign_id, contact_id = found.campaign.id, found.contact.id
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Rsvp)
    # Two clicks at once: the unique key keeps one row, and only the insert that made it
    # (or the update that revived a cancelled one) queues a confirmation.
    made = db.session.scalar(
        insert.values(
            campaign_id=campaign_id, contact_id=contact_id,
            event_starts_at=found.starts_at, created_at=now,
        ).on_conflict_do_nothing().returning(Rsvp.id)
    )  # fmt: skip
    if made is None:
        made = db.session.scalar(
            update(Rsvp)
            .where(
                Rsvp.campaign_id == campaign_id,
                Rsvp.contact_id == contact_id,
                Rsvp.cancelled_at.is_not(None),
            )
            .values(cancelled_at=None, reminded_at=None, created_at=now,
                    event_starts_at=found.starts_at)
            .returning(Rsvp.id)
        )  # fmt: skip
    if made is None:
        return found, False
    _queue([_mail_row(SystemMailKind.RSVP_CONFIRMED, found.campaign, found.contact, now)])
    return found, True


def cancel(token: str, now: datetime) -> tuple[Invitation, bool]:
    """Withdraw the registration before the event; True when this call withdrew it."""
    found = invitation(token, now)
    done = db.session.scalar(
        update(Rsvp)
        .where(
            Rsvp.campaign_id == found.campaign.id,
            Rsvp.contact_id == found.contact.id,
            Rsvp.cancelled_at.is_(None),
        )
        .values(cancelled_at=now)
        .returning(Rsvp.id)
    )
    return found, done is not None


def _standing(query: Any, campaign_id: int) -> Any:
    """Registrations that stand: not cancelled, of people not erased."""
    return query.join(Contact, Contact.id == Rsvp.contact_id).where(
        Rsvp.campaign_id == campaign_id, Rsvp.cancelled_at.is_(None), Contact.erased_at.is_(None)
    )


def count_of(campaign: Campaign) -> int | None:
    """The campaign's standing registrations; None for a campaign that is not an event."""
    if campaign.kind != CampaignKind.EVENT:
        return None
    return db.session.scalar(_standing(select(func.count()).select_from(Rsvp), campaign.id)) or 0


def registered_csv(access: Access, campaign_id: int) -> str:
    """Who registered, oldest first, with the contact columns the role may see; audited."""
    access.require("campaigns.view")
    columns = [c for c in ("name", "email") if access.sees(c)]
    query = select(
        Contact.id, *[getattr(Contact, c) for c in columns], Rsvp.created_at, Rsvp.reminded_at
    ).order_by(Rsvp.created_at, Rsvp.id)
    rows = db.session.execute(_standing(query, campaign_id)).all()
    access.audit("campaigns.rsvps_export", "campaign", campaign_id, rows=len(rows),
                 columns=columns)  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["contact_id", *columns, "registered_at", "reminded_at"])
    for contact_id, *shown, created_at, reminded_at in rows:
        writer.writerow([contact_id, *[csv_value(v) for v in shown], created_at.isoformat(),
                         reminded_at.isoformat() if reminded_at else ""])  # fmt: skip
    return "\ufeff" + out.getvalue()


def remind_due(now: datetime) -> int:
    """The scheduler's task: a reminder mail for each standing RSVP whose event starts within
    REMINDER_BEFORE, outside the contact's quiet hours. Claimed set-based with
    `UPDATE ... WHERE reminded_at IS NULL RETURNING`, in the transaction that inserts the
    mails: of two racing rounds only one gets a row back, so each reminder is made once."""
    candidates = db.session.execute(
        select(Rsvp.id, Rsvp.event_starts_at, Contact.time_zone)
        .join(Contact, Contact.id == Rsvp.contact_id)
        .where(
            Rsvp.reminded_at.is_(None),
            Rsvp.cancelled_at.is_(None),
            Rsvp.event_starts_at > now,
            Rsvp.event_starts_at <= now + rules.REMINDER_BEFORE,
            Contact.erased_at.is_(None),
            Contact.email.is_not(None),
        )
        .order_by(Rsvp.event_starts_at, Rsvp.id)
        .limit(BATCH)
    ).all()
    due = [r.id for r in candidates if rules.reminder_due(r.event_starts_at, now, r.time_zone)]
    if not due:
        return 0
    claimed = list(
        db.session.scalars(
            update(Rsvp)
            .where(Rsvp.id.in_(due), Rsvp.reminded_at.is_(None), Rsvp.cancelled_at.is_(None))
            .values(reminded_at=now)
            .returning(Rsvp.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return 0
    rows = db.session.execute(
        select(Campaign, Contact)
        .join(Rsvp, Rsvp.campaign_id == Campaign.id)
        .join(Contact, Contact.id == Rsvp.contact_id)
        .where(Rsvp.id.in_(claimed))
    ).all()
    _queue([_mail_row(SystemMailKind.RSVP_REMINDER, c, p, now) for c, p in rows])
    return len(rows)


def _mail_row(kind: SystemMailKind, campaign: Campaign, contact: Contact, now: datetime) -> dict:
    locale = contact.locale if contact.locale in ("vi", "en") else "vi"
    event = localized(campaign.data or {}, locale)
    data: dict[str, Any] = {key: str(event.get(key) or "") for key in EVENT_FIELDS}
    data.update(campaign_id=campaign.id, time_zone=contact.time_zone,
                link=rsvp_url(campaign.id, contact.id))  # fmt: skip
    return {
        "kind": kind.value, "to_address": contact.email, "locale": locale, "data": data,
        "contact_id": contact.id, "status": SystemMailStatus.QUEUED, "created_at": now,
    }  # fmt: skip


def _queue(rows: list[dict]) -> None:
    """One multi-row insert; each mail's job is enqueued once the transaction commits."""
    if not rows:
        return
    ids = db.session.scalars(
        db.insert(SystemMail).returning(SystemMail.id, sort_by_parameter_order=True), rows
    ).all()
    for mail_id in ids:
        enqueue_after_commit(db.session(), NOTICES, SEND_JOB, mail_id)
