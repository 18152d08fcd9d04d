"""The consent services on a real database: evidence, the ledger, derived state, append-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from notifier.contacts import consent_ledger as consent
from notifier.contacts import contacts
from notifier.delivery.eligibility import decision_for
from notifier.domain.consent_rules import ConsentStatus, Reason
from notifier.domain.errors import Conflict, MissingEvidence
from notifier.infra.extensions import db
from notifier.models import ConsentEvent, ConsentSource, ConsentState, NoticeText, utcnow
from tests.integration.helpers import committed

WEB = consent.Evidence(
    source=ConsentSource.WEB_FORM, notice_version="", ip="203.0.113.9", user_agent="Firefox"
)


def web_evidence(purpose_key: str, **changes: object) -> consent.Evidence:
    from notifier.infra.context import profile

    version = profile().purpose(purpose_key).notice_version
    fields = {**WEB.__dict__, "notice_version": version, **changes}
    return consent.Evidence(**fields)  # type: ignore[arg-type]


@pytest.fixture
def contact_id(app: object) -> int:
    return contacts.save_contact({"email": "Lan.Nguyen@Example.com", "name": "Nguyễn Thị Lan"}).id


def test_default_state_is_none_for_every_purpose(contact_id: int) -> None:
    states = consent.states(contact_id)
    assert set(states) == {"promotions", "events", "renewal", "sales_contact"}
    assert set(states.values()) == {ConsentStatus.NONE}


def test_one_grant_leaves_other_purposes_untouched(contact_id: int) -> None:
    event = consent.grant(contact_id, "promotions", web_evidence("promotions"))
    assert event is not None
    states = consent.states(contact_id)
    assert states["promotions"] is ConsentStatus.GRANTED
    assert states["events"] is ConsentStatus.NONE


def test_grant_records_the_exact_notice_text_shown(contact_id: int) -> None:
    from notifier.infra.context import profile

    event = consent.grant(contact_id, "promotions", web_evidence("promotions", locale="en"))
    assert event is not None
    text = db.session.get(NoticeText, event.notice_sha256)
    assert text is not None
    assert text.text == profile().purpose("promotions").notice.en
    assert (event.ip, event.user_agent, event.source) == ("203.0.113.9", "Firefox", "web_form")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"notice_version": ""}, "notice version"),
        ({"notice_version": "1999-01-01"}, "not promotions's current version"),
        ({"ip": None}, "IP address"),
        ({"source": ConsentSource.ONE_CLICK}, "cannot grant"),
        ({"source": ConsentSource.STAFF}, "staff member"),
        ({"source": ConsentSource.IMPORT}, "original source"),
        ({"occurred_at": utcnow() + timedelta(days=1)}, "future"),
    ],
)
def test_a_grant_without_evidence_is_refused(
    contact_id: int, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(MissingEvidence, match=message):
        consent.grant(contact_id, "promotions", web_evidence("promotions", **changes))
    assert consent.states(contact_id)["promotions"] is ConsentStatus.NONE
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 0


def test_withdrawal_wins_and_is_recorded_once(contact_id: int) -> None:
    consent.grant(contact_id, "promotions", web_evidence("promotions"))
    refusal = consent.Evidence(source=ConsentSource.ONE_CLICK, ip="198.51.100.1")
    first = consent.withdraw(contact_id, ["promotions"], refusal)
    again = consent.withdraw(contact_id, ["promotions"], refusal)
    assert first.changed and not again.changed
    decision = decision_for(contact_id, "promotions", utcnow())
    assert not decision.allowed and decision.reason is Reason.WITHDRAWN


def test_old_evidence_cannot_undo_a_later_withdrawal(contact_id: int) -> None:
    consent.withdraw(contact_id, ["promotions"], consent.Evidence(source=ConsentSource.EMAIL))
    old = web_evidence("promotions", occurred_at=utcnow() - timedelta(days=30))
    with pytest.raises(Conflict, match="older than the withdrawal"):
        consent.grant(contact_id, "promotions", old)


def test_double_opt_in_is_pending_until_confirmed(contact_id: int) -> None:
    token = consent.request_confirmation(contact_id, "promotions", web_evidence("promotions"))
    assert token
    assert decision_for(contact_id, "promotions", utcnow()).reason is Reason.PENDING_CONFIRMATION
    confirm_evidence = consent.Evidence(source=ConsentSource.SIGNUP, ip="203.0.113.10")
    grant = consent.confirm(token, confirm_evidence)
    assert grant.evidence["request_ip"] == "203.0.113.9"
    assert grant.ip == "203.0.113.10"
    assert decision_for(contact_id, "promotions", utcnow()).allowed
    with pytest.raises(Exception, match="replaced or used"):
        consent.confirm(token, confirm_evidence)


def test_stored_state_equals_state_derived_from_the_ledger(contact_id: int) -> None:
    other = contacts.save_contact({"email": "minh@example.com"}).id
    consent.grant(contact_id, "promotions", web_evidence("promotions"))
    consent.grant(other, "events", web_evidence("events"))
    consent.withdraw(contact_id, ["promotions", "events"], consent.Evidence(ConsentSource.EMAIL))
    consent.grant(contact_id, "promotions", web_evidence("promotions"))
    derived = consent.derive_states(consent.history(contact_id) + consent.history(other))
    stored = {
        (s.contact_id, s.purpose_key): (s.status, s.event_id)
        for s in db.session.scalars(sa.select(ConsentState))
    }
    assert stored == derived
    assert stored[(contact_id, "promotions")][0] == "granted"
    assert stored[(contact_id, "events")][0] == "withdrawn"


def test_the_ledger_refuses_updates_and_deletes(contact_id: int) -> None:
    with committed():
        event = consent.grant(contact_id, "promotions", web_evidence("promotions"))
    assert event is not None
    for statement in (
        sa.update(ConsentEvent).values(action="withdraw"),
        sa.update(ConsentEvent).values(occurred_at=utcnow() - timedelta(days=900)),
        sa.update(ConsentEvent).values(ip="10.0.0.1"),
        sa.delete(ConsentEvent),
    ):
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(statement)
            db.session.flush()
        db.session.rollback()
    assert db.session.get(ConsentEvent, event.id).action == "grant"  # type: ignore[union-attr]


def test_the_ledger_allows_clearing_ip_and_user_agent(contact_id: int) -> None:
    event = consent.grant(contact_id, "promotions", web_evidence("promotions"))
    assert event is not None
    db.session.execute(sa.update(ConsentEvent).values(ip=None, user_agent=None))
    db.session.commit()
    row = db.session.get(ConsentEvent, event.id)
    assert row is not None and row.ip is None and row.action == "grant"
