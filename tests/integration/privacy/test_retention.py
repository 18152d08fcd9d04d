"""The retention purge, with the clock moved past contract ends, request deadlines and 365 days."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from notifier.campaigns import lifecycle as campaigns
from notifier.infra.extensions import db
from notifier.models import (
    AuditEntry,
    ConsentEvent,
    Contact,
    Delivery,
    PrivacyRequest,
    Suppression,
    SystemMail,
    utcnow,
)
from notifier.privacy import requests as privacy
from notifier.privacy import retention
from tests.conftest import configure
from tests.integration.helpers import committed, drain, make_contact, start_campaign
from tests.smtp_server import SmtpTestServer

TODAY = date.today()


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url)
        yield server


def contact(contact_id: int) -> Contact:
    db.session.rollback()
    found = db.session.get(Contact, contact_id)
    assert found is not None
    return found


def count(model: type, *where: Any) -> int:
    db.session.rollback()
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_contract_end_purge_keeps_the_hash_and_the_records(
    app: Flask, smtp: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    ends = (TODAY + timedelta(days=10)).isoformat()
    ending = make_contact("end@example.org", grants=("promotions",), name="Nguyễn Văn A",
                          phone="0901234567", contract_ends_on=ends)  # fmt: skip
    staying = make_contact("stay@example.org", grants=("promotions",), name="B")
    start_campaign("promotion", "promotions")
    drain(app)
    digest = contact(ending).address_hash
    now = utcnow()
    with committed():
        assert retention.purge(now)["contracts_ended_erased"] == 0
    assert contact(ending).email == "end@example.org"
    # Alembic's fileConfig (the migrations run once per test session) disables loggers that
    # existed then; listen on the module's own logger, switched back on.
    caplog.set_level(logging.INFO, logger="notifier.privacy.retention")
    logger = logging.getLogger("notifier.privacy.retention")
    logger.addHandler(caplog.handler)
    disabled, logger.disabled = logger.disabled, False
    try:
        with committed():
            counts = retention.purge(
                now + timedelta(days=12)
            )  # the clock moved past the contract end
    finally:
        logger.removeHandler(caplog.handler)
        logger.disabled = disabled
    assert counts["contracts_ended_erased"] == 1
    erased = contact(ending)
    assert (erased.email, erased.name, erased.phone, erased.address_hash) == (None, "", "", None)
    assert erased.erased_at is not None and contact(staying).email == "stay@example.org"
    # The hash stays suppressed; the consent records stay, without IP or user agent.
    assert count(Suppression, Suppression.address_hash == digest, Suppression.scope == "all") == 1
    events = list(db.session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == ending)))
    assert {e.action for e in events} == {"grant", "withdraw"}
    assert all(e.ip is None and e.user_agent is None for e in events)
    delivery = db.session.scalar(select(Delivery).where(Delivery.contact_id == ending))
    assert delivery is not None and delivery.status == "sent"
    assert (delivery.message_id, delivery.smtp_message) == (None, None)
    assert counts["deliveries_anonymised"] == 1 and counts["suppressions_kept"] == 1
    request = db.session.scalar(select(PrivacyRequest).where(PrivacyRequest.contact_id == ending))
    assert request is not None and request.status == "completed"
    # Ended ten days before the purge first ran: too long ago for a retention notice.
    assert request.details == {"basis": "retention", "rule": "contract_end", "notice": "none"}
    audit = db.session.scalar(
        select(AuditEntry)
        .where(AuditEntry.action == "retention.purge")
        .order_by(AuditEntry.id.desc())
    )
    assert audit is not None and audit.details["contracts_ended_erased"] == 1
    assert "contracts_ended_erased=1" in caplog.text and "deliveries_anonymised=1" in caplog.text
    # Imported again, the address is still never mailed.
    again = make_contact("end@example.org", grants=("promotions",))
    assert again != ending
    assert campaigns.count_audience("promotions", {}) == 1


def test_erased_records_are_kept_365_days_then_deleted(app: Flask) -> None:
    person = make_contact("old@example.org", grants=("promotions",))
    real_now = utcnow()
    old = backdated_event(person, real_now - timedelta(days=400))
    recent = backdated_event(person, real_now - timedelta(days=100))
    old_mail = SystemMail(kind="refusal", contact_id=person, to_address="old@example.org",
                          status="sent", created_at=real_now - timedelta(days=400))  # fmt: skip
    db.session.add(old_mail)
    db.session.commit()
    with committed():
        request = privacy.request_erasure(person, privacy.Requester(ip=None, user_agent=None))
    with committed():
        privacy.erase(request.id, None)
    # Sixty days earlier the old event was 340 days old: kept, but minimised.
    with committed():
        earlier = retention.purge(real_now - timedelta(days=60))
    assert earlier["consent_events_deleted"] == 0
    assert count(ConsentEvent, ConsentEvent.id == old) == 1
    with committed():
        later = retention.purge(real_now)  # now it is past 365 days
    assert later["consent_events_deleted"] == 1 and later["confirmations_deleted"] == 1
    assert count(ConsentEvent, ConsentEvent.id == old) == 0
    kept = db.session.get(ConsentEvent, recent)
    assert kept is not None and kept.ip is None
    assert count(ConsentEvent, ConsentEvent.contact_id == person) >= 3  # grant, recent, erasure
    assert later["confirmations_kept"] >= 1  # the erasure acknowledgement, younger


def backdated_event(contact_id: int, when: object) -> int:
    """Consent collected long ago (an import of old records): inserting is always allowed."""
    event = ConsentEvent(contact_id=contact_id, purpose_key="events", action="grant",
                         source="web_form", occurred_at=when, recorded_at=when,
                         ip="203.0.113.9", user_agent="Mozilla/5.0", evidence={})  # fmt: skip
    db.session.add(event)
    db.session.commit()
    return event.id


@pytest.mark.parametrize("profile_name", ["caycanhhoanggia"])
def test_on_request_profile_erases_only_requests_past_their_deadline(
    app: Flask, pinned_clock: object
) -> None:
    ended = make_contact("ended@example.org", contract_ends_on="2020-01-01")
    asked = make_contact("asked@example.org", name="Trần Thị C")
    waiting = make_contact("wait@example.org")
    for contact_id in (asked, waiting):
        with committed():
            privacy.request_erasure(
                contact_id, privacy.Requester(ip="203.0.113.5", user_agent="UA")
            )
    now = utcnow()
    with committed():
        assert retention.purge(now)["erasure_requests_completed"] == 0
    db.session.rollback()
    # Staff rejected one request in time; the other passed its 72-hour deadline unanswered.
    rejected = db.session.scalar(select(PrivacyRequest).where(PrivacyRequest.contact_id == waiting))
    assert rejected is not None
    rejected.status = "rejected"
    db.session.commit()
    with committed():
        counts = retention.purge(now + timedelta(hours=73))
    assert counts["erasure_requests_completed"] == 1 and counts["contracts_ended_erased"] == 0
    assert contact(asked).email is None and contact(asked).erased_at is not None
    assert contact(ended).email == "ended@example.org"  # on request only: no contract rule
    assert contact(waiting).email == "wait@example.org"


def test_the_scheduler_runs_the_purge_once_per_interval(app: Flask) -> None:
    now = utcnow()
    with committed():
        assert retention.scheduled_purge(now) is not None
    with committed():
        assert retention.scheduled_purge(now + timedelta(seconds=5)) is None
    assert count(AuditEntry, AuditEntry.action == "retention.purge") == 1
