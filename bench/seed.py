"""Bulk-create benchmark contacts with mixed consent, as the consent service would record it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import insert

from notifier.contacts.purposes import store_notice_text
from notifier.infra.context import profile, suppression_salt
from notifier.infra.extensions import db
from notifier.infra.hashing import address_hash
from notifier.models import ConsentEvent, ConsentState, Contact, Suppression, utcnow

CHUNK = 5000
# Of every 20 contacts: 14 granted, 2 never asked, 2 withdrawn, 1 suppressed, 1 pending.
MIX = ["granted"] * 14 + ["never"] * 2 + ["withdrawn"] * 2 + ["suppressed", "pending"]


def bench_domain(number: int) -> str:
    return "bench.example.com"


def seed_contacts(
    count: int, purpose_key: str, domain: Callable[[int], str] = bench_domain
) -> set[str]:
    """Returns the addresses that may receive the campaign (granted and not suppressed).
    `domain` gives contact number n's mail domain (a share at gmail.com, say)."""
    purpose = profile().purpose(purpose_key)
    notice_hash = store_notice_text(purpose.notice.vi)
    db.session.commit()
    salt = suppression_salt()
    eligible: set[str] = set()
    now = utcnow()
    next_id = 1
    for start in range(0, count, CHUNK):
        contacts, events, states, suppressions = [], [], [], []
        for number in range(start, min(count, start + CHUNK)):
            kind = MIX[number % len(MIX)]
            email = f"c{number}@{domain(number)}"
            hashed = address_hash(salt, email)
            contact_id = number + 1
            contacts.append(
                {
                    "id": contact_id,
                    "email": email,
                    "address_hash": hashed,
                    "name": f"Khách hàng {number}",
                    "locale": "vi",
                    "attributes": {},
                    "deal": {},
                }
            )
            if kind == "never":
                continue
            grant = {
                "id": next_id,
                "contact_id": contact_id,
                "purpose_key": purpose.key,
                "action": "request" if kind == "pending" else "grant",
                "source": "web_form",
                "occurred_at": now - timedelta(days=30),
                "recorded_at": now - timedelta(days=30),
                "locale": "vi",
                "notice_version": purpose.notice_version,
                "notice_sha256": notice_hash,
                "ip": "203.0.113.1",
                "evidence": {},
            }
            events.append(grant)
            last = grant
            next_id += 1
            if kind == "withdrawn":
                last = {
                    **grant,
                    "id": next_id,
                    "action": "withdraw",
                    "source": "one_click",
                    "occurred_at": now - timedelta(days=1),
                    "recorded_at": now - timedelta(days=1),
                }
                events.append(last)
                next_id += 1
            status = {"grant": "granted", "request": "pending", "withdraw": "withdrawn"}
            states.append(
                {
                    "contact_id": contact_id,
                    "purpose_key": purpose.key,
                    "status": status[last["action"]],
                    "event_id": last["id"],
                    "updated_at": now,
                }
            )
            if kind == "suppressed":
                suppressions.append(
                    {
                        "address_hash": hashed,
                        "scope": "all",
                        "reason": "hard_bounce",
                        "evidence": {},
                        "created_at": now,
                    }
                )
            elif kind == "granted":
                eligible.add(email)
        _insert_chunk(contacts, events, states, suppressions)
    _advance_sequences()
    return eligible


def _insert_chunk(contacts: list, events: list, states: list, suppressions: list) -> None:
    now = utcnow()
    for row in contacts:
        row.update(
            created_at=now,
            updated_at=now,
            time_zone="Asia/Ho_Chi_Minh",
            phone="",
            address="",
            organisation="",
            contact_person="",
            national_id="",
        )
    for row in events:
        row.setdefault("note", "")
    db.session.execute(insert(Contact), contacts)
    if events:
        db.session.execute(insert(ConsentEvent), events)
    if states:
        db.session.execute(insert(ConsentState), states)
    if suppressions:
        db.session.execute(insert(Suppression), suppressions)
    db.session.commit()


def _advance_sequences() -> None:
    """Explicit ids leave PostgreSQL's sequences behind; move them past the seeded rows."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for table in ("contacts", "consent_events"):
        db.session.execute(
            db.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )
    db.session.commit()
