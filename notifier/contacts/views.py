"""Contacts and their consent as plain data, the shape the JSON API answers with."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from notifier.contacts.api_contacts import ConsentOverview, purpose_kind
from notifier.domain.consent_rules import ConsentStatus
from notifier.models import ConsentEvent, Contact


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def contact_view(contact: Contact) -> dict[str, Any]:
    return {
        "external_ref": contact.external_ref or "",
        "email": contact.email,
        "name": contact.name,
        "phone": contact.phone,
        "address": contact.address,
        "organisation": contact.organisation,
        "contact_person": contact.contact_person,
        "locale": contact.locale,
        "time_zone": contact.time_zone,
        "contract_ends_on": iso(contact.contract_ends_on),
        "tags": contact.tag_names,
        "attributes": dict(contact.attributes or {}),
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
    }


def consents_view(overview: ConsentOverview) -> dict[str, Any]:
    return {
        "external_ref": overview.contact.external_ref or "",
        "purposes": [
            {"purpose": key, "kind": purpose_kind(key), "status": ConsentStatus(status).value}
            for key, status in overview.states.items()
        ],
        "history": [_event_view(event) for event in overview.history],
    }


def _event_view(event: ConsentEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "purpose": event.purpose_key,
        "action": event.action,
        "source": event.source,
        "occurred_at": iso(event.occurred_at),
        "recorded_at": iso(event.recorded_at),
        "notice_version": event.notice_version,
        "locale": event.locale,
    }
