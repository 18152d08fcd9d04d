"""Claim a batch of deliveries atomically and re-check consent, suppression and the cap for it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from notifier.delivery.composer import Recipient
from notifier.delivery.eligibility import rule_for
from notifier.delivery.holdings import NO_SUBSCRIPTION, Holdings, Window, holdings_of
from notifier.domain.consent_rules import (
    CAP_WINDOW,
    WEEK,
    ConsentFacts,
    ConsentStatus,
    ContactFacts,
    Decision,
    PurposeRule,
    Reason,
    SendHistory,
    decide,
)
from notifier.domain.profile import Purpose
from notifier.domain.send_time import Held, QuietHours, release, zone_of
from notifier.infra.bulk import among, insert_rows, update_by_id
from notifier.infra.extensions import db
from notifier.models import (
    ConsentEvent,
    ConsentState,
    Contact,
    Delivery,
    DeliveryStatus,
    SendLog,
    Suppression,
)


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    recipient: Recipient
    consent_event_id: int | None
    attempts: int


@dataclass(frozen=True)
class Claim:
    campaign_id: int
    token: str
    sendable: list[Claimed]  # in delivery-id order: the order they will be sent in
    skipped: int
    deferred: int


@dataclass(frozen=True)
class Quiet:
    """Advertising waits out these local hours in each recipient's zone (the profile's email
    window); a contact without a known zone reads as `default_zone`."""

    hours: QuietHours
    default_zone: str

    def until(self, contact: Any, now: datetime) -> datetime | None:
        return release(now, zone_of(contact.time_zone, self.default_zone), quiet=self.hours).at


def claim_batch(
    campaign_id: int,
    purpose: Purpose,
    size: int,
    now: datetime,
    window: Window | None = None,
    quiet: Quiet | None = None,
) -> Claim:
    """One transaction: claim rows, lock their contacts, decide, reserve cap slots, commit.

    Locking the contacts serialises workers that reach the same person from different
    campaigns, so the 24 h cap holds under concurrency; the reservation (a send_log row)
    is what the next worker sees. With a renewal `window`, each recipient gets their own
    subscription data (one query for the batch); one with none in the window is skipped
    (NO_SUBSCRIPTION), never sent the layout's sample. With `quiet` hours, a recipient for
    whom it is night is deferred to the window's end (QUIET_HOURS), never skipped: planning
    already held most of them, this catches a claim that comes late into the night.
    """
    token = str(uuid.uuid4())
    rows = _claim_rows(campaign_id, size, token, now)
    if not rows:
        db.session.commit()
        return Claim(campaign_id, token, [], 0, 0)
    contact_ids = sorted({row[1] for row in rows})
    contacts = _lock_contacts(contact_ids)
    states = _consent_states(contact_ids, purpose.key)
    # The notice version each person agreed to decides whether their mail is tracked: read only
    # for a purpose whose profile discloses tracking, so untracked purposes cost nothing more.
    versions = _notice_versions(states) if purpose.tracking is not None else {}
    scopes = _suppressions([c.address_hash for c in contacts.values() if c.address_hash])
    history = _history(contact_ids, now)
    held = holdings_of(contact_ids, window) if window is not None else {}
    rule = rule_for(purpose)

    sendable, changes, reservations = [], [], []
    skipped = deferred = 0
    for delivery_id, contact_id, attempts, variant in rows:
        contact = contacts.get(contact_id)
        decision = _decide(rule, contact, states.get(contact_id), scopes, history, contact_id, now)
        holdings = held.get(contact_id)
        wake = quiet.until(contact, now) if quiet and decision.allowed and contact else None
        if wake is not None:
            deferred += 1
            changes.append(deferred_until(delivery_id, Held.QUIET_HOURS, wake))
        elif decision.allowed and window is not None and (not holdings or not holdings.expiring):
            skipped += 1
            changes.append(_no_subscription(delivery_id))
        elif decision.allowed and contact is not None and contact.email:
            recipient = recipient_of(contact, holdings)
            if purpose.tracking is not None:
                flags = purpose.tracking.flags_for(versions.get(decision.consent_event_id or 0))
                recipient = replace(recipient, tracking=flags)
            if variant is not None:  # an A/B test's subject (docs/ab-tests.md)
                recipient = replace(recipient, variant=variant)
            sendable.append(Claimed(delivery_id, recipient, decision.consent_event_id, attempts))
            # The delivery row gets its consent event with its outcome (one write, not two);
            # the reservation holds it meanwhile, for a recovery if this worker dies.
            reservations.append(
                _reservation(contact_id, purpose, now, delivery_id, decision.consent_event_id)
            )
            history[contact_id].append((purpose.key, purpose.is_advertising, now))
        elif decision.retry_at is not None:
            deferred += 1
            changes.append(_deferral(delivery_id, decision))
        else:
            skipped += 1
            changes.append(_skip(delivery_id, decision))
    if changes:
        update_by_id(Delivery, changes)
    if reservations:
        insert_rows(SendLog, reservations)
    db.session.commit()
    return Claim(campaign_id, token, sendable, skipped, deferred)


def _claim_rows(
    campaign_id: int, size: int, token: str, now: datetime
) -> list[tuple[int, int, int, int | None]]:
    claimable = or_(
        Delivery.status == DeliveryStatus.PENDING,
        and_(Delivery.status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now),
    )
    candidates = (
        select(Delivery.id)
        .where(Delivery.campaign_id == campaign_id, claimable)
        .order_by(Delivery.id)
        .limit(size)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    result = db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates.scalar_subquery()))
        .values(status=DeliveryStatus.CLAIMED, claim_token=token, claimed_at=now)
        .returning(Delivery.id, Delivery.contact_id, Delivery.attempts, Delivery.variant),
        execution_options={"synchronize_session": False},
    )
    return sorted((row[0], row[1], row[2], row[3]) for row in result)


CONTACT_COLUMNS = (
    Contact.id, Contact.email, Contact.name, Contact.locale, Contact.time_zone,
    Contact.attributes, Contact.erased_at, Contact.restricted_at, Contact.contract_ends_on,
    Contact.address_hash,
)  # fmt: skip


def _lock_contacts(contact_ids: list[int]) -> dict[int, Any]:
    """Plain rows, not ORM objects: this runs once per batch on the hot path."""
    query = select(*CONTACT_COLUMNS).where(among(Contact.id, contact_ids)).order_by(Contact.id)
    if db.session.get_bind().dialect.name == "postgresql":
        # Always in id order, so two workers locking overlapping sets cannot deadlock.
        query = query.with_for_update(of=Contact)
    return {row.id: row for row in db.session.execute(query)}


def _consent_states(contact_ids: list[int], purpose_key: str) -> dict[int, ConsentFacts]:
    rows = db.session.execute(
        select(
            ConsentState.contact_id,
            ConsentState.status,
            ConsentState.event_id,
            ConsentState.agreed_daily_cap,
        ).where(
            among(ConsentState.contact_id, contact_ids), ConsentState.purpose_key == purpose_key
        )
    )
    return {r[0]: ConsentFacts(ConsentStatus(r[1]), r[2], r[3]) for r in rows}


def _notice_versions(states: dict[int, ConsentFacts]) -> dict[int, str | None]:
    """The notice version of each consent event that authorises a recipient (one query)."""
    event_ids = sorted({s.event_id for s in states.values() if s.event_id is not None})
    if not event_ids:
        return {}
    rows = db.session.execute(
        select(ConsentEvent.id, ConsentEvent.notice_version).where(
            among(ConsentEvent.id, event_ids)
        )
    )
    return {event_id: version for event_id, version in rows}


def _suppressions(hashes: list[str]) -> dict[str, set[str]]:
    scopes: dict[str, set[str]] = defaultdict(set)
    if hashes:
        rows = db.session.execute(
            select(Suppression.address_hash, Suppression.scope).where(
                among(Suppression.address_hash, hashes)
            )
        )
        for address_hash, scope in rows:
            scopes[address_hash].add(scope)
    return scopes


def _history(contact_ids: list[int], now: datetime) -> dict[int, list[tuple[str, bool, datetime]]]:
    history: dict[int, list[tuple[str, bool, datetime]]] = defaultdict(list)
    rows = db.session.execute(
        select(SendLog.contact_id, SendLog.purpose_key, SendLog.advertising, SendLog.sent_at).where(
            among(SendLog.contact_id, contact_ids), SendLog.sent_at > now - max(WEEK, CAP_WINDOW)
        )
    )
    for contact_id, purpose_key, advertising, sent_at in rows:
        history[contact_id].append((purpose_key, advertising, sent_at))
    return history


def _decide(
    rule: PurposeRule,
    contact: Any,
    consent: ConsentFacts | None,
    scopes: dict[str, set[str]],
    history: dict[int, list[tuple[str, bool, datetime]]],
    contact_id: int,
    now: datetime,
) -> Decision:
    if contact is None or not contact.email:
        return Decision(False, Reason.ERASED)
    facts = ContactFacts(
        erased=contact.erased_at is not None or not contact.email,
        restricted=contact.restricted_at is not None,
        contract_ends_on=contact.contract_ends_on,
        suppressed_scopes=frozenset(scopes.get(contact.address_hash or "", ())),
    )
    sent = history.get(contact_id, [])
    past = SendHistory(
        advertising_sent_at=[at for _, advertising, at in sent if advertising],
        purpose_sent_at=[at for key, _, at in sent if key == rule.key],
    )
    return decide(rule, facts, consent or ConsentFacts(), past, now)


def recipient_of(contact: Any, holdings: Holdings | None = None) -> Recipient:
    return Recipient(
        contact_id=contact.id,
        email=contact.email or "",
        name=contact.name,
        locale=contact.locale,
        attributes=dict(contact.attributes or {}),
        time_zone=contact.time_zone,
        subscription=holdings.expiring if holdings else None,
        subscriptions=holdings.active if holdings else (),
    )


def _reservation(
    contact_id: int, purpose: Purpose, now: datetime, delivery_id: int, event_id: int | None
) -> dict:
    return {
        "contact_id": contact_id,
        "purpose_key": purpose.key,
        "advertising": purpose.is_advertising,
        "sent_at": now,
        "delivery_id": delivery_id,
        "consent_event_id": event_id,
    }


def _deferral(delivery_id: int, decision: Decision) -> dict:
    return deferred_until(delivery_id, decision.reason.value, decision.retry_at)


def deferred_until(delivery_id: int, reason: str, until: datetime | None) -> dict:
    """A claimed row given back unsent until `until`, with its reason (the cap, quiet hours,
    a relay's window): DEFERRED, attempts unchanged."""
    return {
        "id": delivery_id,
        "status": DeliveryStatus.DEFERRED,
        "reason": reason,
        "next_attempt_at": until,
        "claim_token": None,
    }


def _no_subscription(delivery_id: int) -> dict:
    return {
        "id": delivery_id,
        "status": DeliveryStatus.SKIPPED,
        "reason": NO_SUBSCRIPTION,
        "claim_token": None,
    }


def _skip(delivery_id: int, decision: Decision) -> dict:
    return {
        "id": delivery_id,
        "status": DeliveryStatus.SKIPPED,
        "reason": decision.reason.value,
        "claim_token": None,
    }
