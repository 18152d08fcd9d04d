"""Contact fields are checked one by one; a bad field writes nothing."""

from __future__ import annotations

import pytest
from flask import Flask

from notifier.contacts import contacts
from notifier.domain.errors import Conflict, ValidationFailed
from notifier.infra.extensions import db
from notifier.models import Contact


def test_every_bad_field_is_named_and_nothing_is_written(app: Flask) -> None:
    bad = {
        "email": "not an address",
        "phone": "call me maybe",
        "national_id": "12345",
        "birth_date": "31/12/1990",
        "locale": "fr",
        "time_zone": "Mars/Olympus",
        "name": "x\r\nBcc: y",
        "colour": "blue",
    }
    with pytest.raises(ValidationFailed) as failure:
        contacts.save_contact(bad)
    assert set(failure.value.errors) == set(bad)
    assert db.session.scalar(db.select(db.func.count()).select_from(Contact)) == 0


def test_a_contact_is_upserted_by_email_and_keeps_its_external_ref(app: Flask) -> None:
    first = contacts.save_contact(
        {"email": "an@example.com", "external_ref": "KH-1", "tags": "vip"}
    )
    again = contacts.save_contact({"email": "AN@example.com", "name": "Trần An"})
    assert again.id == first.id and again.external_ref == "KH-1" and again.name == "Trần An"
    assert again.tag_names == ["vip"]
    moved = contacts.save_contact({"email": "new@example.com", "external_ref": "KH-1"})
    assert moved.id == first.id and moved.email == "new@example.com"  # billing changed the address
    contacts.save_contact({"email": "binh@example.com", "external_ref": "KH-2"})
    with pytest.raises(Conflict, match="KH-2"):
        contacts.save_contact({"email": "binh@example.com", "external_ref": "KH-3"})
    with pytest.raises(Conflict, match="belongs to another contact"):
        contacts.save_contact({"email": "chi@example.com", "external_ref": "KH-9"})
        contacts.update_contact(first.id, {"email": "binh@example.com"})
