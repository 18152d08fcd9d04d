"""`notifier subscriptions import`: good rows written, each bad one named by line and field,
the same rows as the API's (one source), and the error report safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from notifier.cli import main
from notifier.infra.extensions import db
from notifier.models import Subscription
from tests.integration.helpers import make_contact

HEADER = "external_id,contact_external_ref,contact_email,kind,name,plan,expires_on,amount,currency,renewal_url,status,attributes\n"  # noqa: E501


def test_import_writes_good_rows_and_reports_bad_ones(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    make_contact("binh@example.com", external_ref="KH-002")
    file = tmp_path / "subs.csv"
    file.write_text(
        HEADER
        + "D-1,KH-001,,domain,hoalan.vn,.vn,2027-01-15,750000,VND,https://b.dcnet.vn/r/D-1,,\n"
        + "D-2,,BINH@example.com,hosting,Hosting Pro,Pro,2027-02-01,19.99,USD,,active,"
        + '"{""cpu"": 2}"\n'
        + "D-3,KH-001,,domain,x.vn,,2027-02-30,1e9,VND,javascript:alert(1),,\n"
        + "D-4,KH-404,,domain,y.vn,,,,,,,\n"
        + "=cmd,KH-001,,boat,z.vn,,,,,,,\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, args=["subscriptions", "import", str(file), "--source", "billing"])
    assert result.exit_code == 1, result.output
    assert "5 rows: 2 created, 0 updated, 3 failed" in result.output
    rows = {s.external_id: s for s in db.session.scalars(select(Subscription))}
    assert set(rows) == {"D-1", "D-2"}
    assert rows["D-2"].attributes == {"cpu": 2} and str(rows["D-2"].amount).startswith("19.99")
    assert {s.source for s in rows.values()} == {"billing"}
    with (tmp_path / "subs.errors.csv").open(encoding="utf-8-sig") as report:
        problems = {(int(r["line"]), r["field"]) for r in csv.DictReader(report)}
    assert problems == {
        (4, "expires_on"),
        (4, "amount"),
        (4, "renewal_url"),
        (5, "contact.external_ref"),
        (6, "external_id"),
        (6, "kind"),
    }
    # Again: idempotent, nothing new.
    again = runner.invoke(main, args=["subscriptions", "import", str(file), "--source", "billing"])
    assert "2 updated" in again.output
    assert len(list(db.session.scalars(select(Subscription)))) == 2


def test_a_file_with_unknown_columns_imports_nothing(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    file = tmp_path / "subs.csv"
    file.write_text("external_id,kind,name,password\nD-1,domain,a.vn,x\n", encoding="utf-8")
    result = runner.invoke(main, args=["subscriptions", "import", str(file)])
    assert result.exit_code == 1
    assert "unknown columns password" in result.output
    assert db.session.scalar(select(Subscription)) is None
