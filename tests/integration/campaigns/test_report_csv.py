"""The report CSV: the same cells whether PostgreSQL writes them (COPY) or Python does, with
hostile text neutralised for spreadsheets and quoted for CSV readers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from flask import Flask

from notifier.campaigns import report_copy, reports
from notifier.infra.extensions import db
from notifier.models import Delivery
from tests.conftest import POSTGRES
from tests.integration.helpers import committed, make_contact, start_campaign

HOSTILE_NAMES = [
    '=HYPERLINK("http://evil.example","bấm")', "+84 901", "-1", "@SUM(A1)", 'Quote "x", comma',
    None, "", "Nguyễn Thị Hồng", "'already",
]  # fmt: skip
# The relay's words: any text, line breaks and formula starts included.
MESSAGES = ["=cmd|' /C calc'!A0", "250 2.0.0 Ok\r\nqueued", None, "\t=1+1", '550 "no", sorry']
WHEN = [
    datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
    datetime(2026, 12, 6, 9, 30, 1, 250, tzinfo=UTC),
    None,
]


def seeded_campaign() -> int:
    make_contact("audience@example.com", ("promotions",))  # a campaign needs one to schedule
    campaign_id = start_campaign("promotion", "promotions")
    with committed():
        for n, name in enumerate(HOSTILE_NAMES):
            contact_id = make_contact(f"r{n}@example.com", name=name)
            db.session.add(
                Delivery(
                    campaign_id=campaign_id, contact_id=contact_id,
                    status=("sent", "failed", "skipped")[n % 3],
                    reason=(None, "", "no_consent")[n % 3], smtp_code=(250, None, 550)[n % 3],
                    smtp_message=MESSAGES[n % len(MESSAGES)], sent_at=WHEN[n % len(WHEN)],
                )
            )  # fmt: skip
    return campaign_id


def parsed(chunks: list[str]) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(chunks))))


def test_hostile_cells_are_neutralised_and_quoted(app: Flask) -> None:
    campaign_id = seeded_campaign()
    columns = ["name", "email"]
    rows = parsed(list(reports._csv_chunks(db.engine, campaign_id, columns)))
    assert rows[0][0] == "\ufeffdelivery_id" and rows[0][-1] == "sent_at"
    body = {row[3]: row for row in rows[1:] if row[3].startswith("r")}  # by email
    assert len(body) == len(HOSTILE_NAMES)
    assert body["r0@example.com"][2] == "'" + HOSTILE_NAMES[0]
    assert [body[f"r{n}@example.com"][2] for n in (1, 2, 3)] == ["'+84 901", "'-1", "'@SUM(A1)"]
    assert body["r4@example.com"][2] == 'Quote "x", comma'
    assert body["r5@example.com"][2] == body["r6@example.com"][2] == ""
    assert body["r8@example.com"][2] == "'already"
    assert body["r3@example.com"][7] == "'\t=1+1" and body["r4@example.com"][7] == '550 "no", sorry'
    first = body["r0@example.com"]
    assert first[4:] == ["sent", "", "250", "'=cmd|' /C calc'!A0", "2026-12-06T09:30:00+00:00"]
    second = body["r1@example.com"]
    assert second[4:] == [
        "failed",
        "",
        "",
        "250 2.0.0 Ok\r\nqueued",
        "2026-12-06T09:30:01.000250+00:00",
    ]
    assert body["r2@example.com"][4:] == ["skipped", "no_consent", "550", "", ""]


@pytest.mark.skipif(not POSTGRES, reason="COPY is PostgreSQL's")
def test_postgresql_writes_the_cells_python_writes(app: Flask) -> None:
    campaign_id = seeded_campaign()
    for columns in (["name", "email"], ["email"], []):
        by_server = parsed(list(report_copy.copied_rows(db.engine, campaign_id, columns)))
        query = reports.report_query(campaign_id, columns)
        by_python = parsed(list(reports.written_rows(db.engine, query, columns)))
        assert by_server == by_python and len(by_server) >= len(HOSTILE_NAMES)


def test_only_contact_columns_reach_the_copy_statement() -> None:
    with pytest.raises(ValueError, match="not contact columns"):
        report_copy.copy_statement(1, ["email", "1); DROP TABLE contacts; --"])
