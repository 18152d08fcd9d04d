"""The charts' query reads the index on (campaign, kind, time, flags, contact) alone on
PostgreSQL: with events of twenty campaigns in the table, one campaign's series is an index-only
scan of ix_tracking_events_campaign, never a scan of the table (bench/engagement_charts.py
measures it at 10,000,000 events)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.dialects import postgresql

from notifier.campaigns.engagement_series import HOURLY_SPAN, series_statement
from notifier.domain.tokens import CLICK
from notifier.infra.extensions import db
from tests.conftest import POSTGRES
from tests.integration.helpers import committed, layout_template, make_contact, sample_data

pytestmark = pytest.mark.skipif(not POSTGRES, reason="the plan is PostgreSQL's")

CAMPAIGNS, EVENTS = 20, 100_000


def _campaigns() -> list[int]:
    from notifier.campaigns import lifecycle

    template = layout_template("promotion", "promotions")
    ids = []
    with committed():
        for n in range(CAMPAIGNS):
            campaign = lifecycle.create_campaign(
                lifecycle.CampaignInput(
                    name=f"c{n}",
                    kind="promotion",
                    purpose_key="promotions",
                    template_id=template,
                    audience={},
                    data=sample_data("promotion"),
                )
            )
            ids.append(campaign.id)
    return ids


def test_one_campaigns_series_is_an_index_only_scan(app: Flask) -> None:
    contact = make_contact("an@example.com")
    ids = _campaigns()
    with committed():
        db.session.execute(
            text(
                "INSERT INTO tracking_events (campaign_id, contact_id, kind, link, flags, at) "
                "SELECT (:ids)[1 + n % :k], :contact, CASE WHEN n % 3 = 0 THEN 'c' ELSE 'o' END, "
                "n % 4, CASE WHEN n % 10 = 0 THEN 1 ELSE 0 END, "
                "timestamp '2026-12-01' + (n % 2000) * interval '7 minutes' "
                "FROM generate_series(1, :events) AS n"
            ),
            {"ids": ids, "k": CAMPAIGNS, "contact": contact, "events": EVENTS},
        )
    # VACUUM (not in a transaction) sets the visibility map an index-only scan relies on.
    engine = create_engine(
        db.engine.url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE tracking_events"))
    engine.dispose()
    start = datetime(2026, 12, 1, tzinfo=UTC)
    statement = series_statement(ids[3], CLICK, start + HOURLY_SPAN)
    sql = str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    plan = "\n".join(db.session.scalars(text("EXPLAIN " + sql)))
    assert "Index Only Scan using ix_tracking_events_campaign" in plan, plan
    assert "Seq Scan" not in plan, plan
    rows = db.session.execute(statement).all()
    # (:ids)[1 + n % 20] is ids[3] when n % 20 == 3; a click when n % 3 == 0.
    expected = sum(1 for n in range(1, EVENTS + 1) if n % CAMPAIGNS == 3 and n % 3 == 0)
    assert sum(row[4] for row in rows) == expected
