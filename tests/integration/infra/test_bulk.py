"""One-statement writes (unnest on PostgreSQL, executemany on SQLite) store what they are given."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select, text

from notifier.infra.bulk import among, insert_rows, planned_for_arrays, update_by_id
from notifier.infra.extensions import db
from notifier.models import Contact, Delivery, DeliveryStatus, SendLog
from tests.integration.helpers import make_contact, start_campaign


def test_rows_of_different_shapes_each_get_their_own_values(app: Flask) -> None:
    contacts = [make_contact(f"k{i}@example.com", ("promotions",)) for i in range(3)]
    campaign_id = start_campaign("promotion", "promotions")
    insert_rows(
        Delivery,
        [{"campaign_id": campaign_id, "contact_id": c, "status": "pending"} for c in contacts],
    )
    ids = sorted(db.session.scalars(select(Delivery.id)))
    when = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    update_by_id(
        Delivery,
        [
            {"id": ids[0], "status": DeliveryStatus.SENT, "sent_at": when, "smtp_code": 250},
            {"id": ids[1], "status": DeliveryStatus.DEFERRED, "reason": "smtp_temporary"},
            {"id": ids[2], "status": DeliveryStatus.SENT, "sent_at": None, "smtp_code": None},
        ],
    )
    db.session.commit()
    rows = {d.id: d for d in db.session.scalars(select(Delivery))}
    assert (rows[ids[0]].status, rows[ids[0]].sent_at, rows[ids[0]].smtp_code) == (
        "sent",
        when,
        250,
    )
    assert (rows[ids[1]].status, rows[ids[1]].reason, rows[ids[1]].sent_at) == (
        "deferred",
        "smtp_temporary",
        None,
    )
    assert (rows[ids[2]].status, rows[ids[2]].smtp_code) == ("sent", None)
    picked = db.session.scalars(select(Delivery.id).where(among(Delivery.id, ids[:2])))
    assert sorted(picked) == ids[:2]


def test_inserted_rows_keep_their_types(app: Flask) -> None:
    contact = make_contact("k@example.com", ("promotions",))
    when = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    insert_rows(
        SendLog,
        [
            {"contact_id": contact, "purpose_key": "promotions", "advertising": True,
             "sent_at": when, "delivery_id": None, "consent_event_id": 7},
            {"contact_id": contact, "purpose_key": "renewal", "advertising": False,
             "sent_at": when, "delivery_id": 12, "consent_event_id": None},
        ],
    )  # fmt: skip
    db.session.commit()
    rows = db.session.execute(
        select(
            SendLog.purpose_key, SendLog.advertising, SendLog.sent_at, SendLog.delivery_id
        ).order_by(SendLog.id)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("promotions", True, when, None),
        ("renewal", False, when, 12),
    ]


def test_planned_for_arrays_statements_are_planned_each_time_and_the_setting_comes_back(
    app: Flask,
) -> None:
    dbapi = db.session.connection().connection.dbapi_connection
    before = getattr(dbapi, "prepare_threshold", None)
    contact = make_contact("k@example.com", ("promotions",))
    seqscan = text("SELECT current_setting('enable_seqscan')")
    with planned_for_arrays():
        assert getattr(dbapi, "prepare_threshold", None) is None
        if before is not None:
            assert db.session.scalar(seqscan) == "off"
        for _ in range(8):  # past psycopg's threshold of 5: still not prepared
            assert db.session.scalars(select(SendLog.id).where(among(SendLog.id, [1]))).all() == []
        assert list(db.session.scalars(select(Contact.id).where(among(Contact.id, [contact])))) == [
            contact
        ]
    assert getattr(dbapi, "prepare_threshold", None) == before
    if before is not None:  # PostgreSQL: the server holds no plan of the statement
        prepared = text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :s")
        assert db.session.scalar(prepared, {"s": "%FROM send_log%"}) == 0
        assert db.session.scalar(seqscan) == "on"
