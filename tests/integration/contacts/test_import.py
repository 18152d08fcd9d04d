"""CSV contact import on a real database: normalised rows, consent only with evidence, re-runs."""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskCliRunner

from notifier.cli import main
from notifier.contacts import consent_ledger as consent
from notifier.contacts import contacts, importer
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import AuditEntry, ConsentEvent, Contact
from tests.integration.helpers import committed

EVIDENCE = "consent_source,consent_notice_version,consent_collected_at,consent_ip"
GIVEN = "web_form,1,2024-05-01T09:30:00+07:00,203.0.113.7"
COLLECTED = datetime(2024, 5, 1, 2, 30, tzinfo=UTC)


def write(tmp_path: Path, text: str, name: str = "contacts.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def contact(email: str) -> Contact:
    found = contacts.find_by_email(email)
    assert found is not None, email
    return found


def events(email: str) -> list[ConsentEvent]:
    return consent.history(contact(email).id)


def test_valid_rows_create_contacts_with_normalised_addresses(app: object, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,name,locale,tags,attr.plan,birth_date\n"
        'Lan.Nguyen@Example.COM,Nguyễn Thị Lan,vi,"vip;hosting",pro,1990-02-03\n'
        "user@bücher.example,Minh,en,,,\n",
    )
    result = importer.import_file(path)
    assert (result.rows, result.created, result.failed) == (2, 2, 0)
    lan = contact("lan.nguyen@example.com")
    assert (lan.name, lan.tag_names, lan.attributes) == (
        "Nguyễn Thị Lan",
        ["hosting", "vip"],
        {"plan": "pro"},
    )
    assert lan.birth_date == date(1990, 2, 3)
    assert contact("user@xn--bcher-kva.example").locale == "en"


def test_yes_with_evidence_grants_with_that_evidence(app: object, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"email,locale,consent.promotions,consent.events,{EVIDENCE}\n"
        f"lan@example.com,en,có,,{GIVEN}\n",
    )
    result = importer.import_file(path)
    assert (result.granted, result.withdrawn) == (1, 0)
    [event] = events("lan@example.com")
    promotions = profile().purpose("promotions")
    assert (event.action, event.source, event.purpose_key) == ("grant", "import", "promotions")
    assert event.evidence["reference"] == "web_form"
    assert event.occurred_at == COLLECTED
    assert (event.notice_version, event.ip) == ("1", "203.0.113.7")
    assert event.notice_sha256 == promotions.notice_hash("en")
    assert event.evidence["import_line"] == 2


def test_collection_time_without_offset_is_utc(app: object, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"email,consent.promotions,{EVIDENCE}\nlan@example.com,yes,hotline,1,2024-05-01 02:30,\n",
    )
    importer.import_file(path)
    [event] = events("lan@example.com")
    assert (event.occurred_at, event.evidence["reference"], event.ip) == (
        COLLECTED,
        "hotline",
        None,
    )


@pytest.mark.parametrize(
    ("evidence", "field", "message"),
    [
        (",1,2024-05-01T09:30:00+07:00,", "consent_source", "is required"),
        ("web_form,,2024-05-01T09:30:00+07:00,", "consent_notice_version", "is required"),
        ("web_form,1,,", "consent_collected_at", "is required"),
        ("web_form,1,01/05/2024,", "consent_collected_at", "not an ISO 8601 time"),
        ("web_form,1,2999-01-01T00:00:00,", "consent_collected_at", "in the future"),
        ("web_form,1,2024-05-01T09:30:00,999.1.1.1", "consent_ip", "not an IPv4"),
        ("web_form,7,2024-05-01T09:30:00,", "consent.promotions", "current version '1'"),
    ],
)
def test_yes_without_valid_evidence_fails_the_whole_row(
    app: object, tmp_path: Path, evidence: str, field: str, message: str
) -> None:
    path = write(
        tmp_path,
        f"email,name,consent.promotions,{EVIDENCE}\n"
        f"lan@example.com,Lan,yes,{evidence}\n"
        "minh@example.com,Minh,,,,,\n",
    )
    result = importer.import_file(path)
    assert (result.created, result.failed, result.granted) == (1, 1, 0)
    [error] = result.errors
    assert (error.line, error.email, error.field) == (2, "lan@example.com", field)
    assert message in error.message
    assert contacts.find_by_email("lan@example.com") is None
    assert count(ConsentEvent) == 0


def test_a_failed_grant_leaves_an_existing_contact_untouched(app: object, tmp_path: Path) -> None:
    contacts.save_contact({"email": "lan@example.com", "name": "Lan"})
    path = write(
        tmp_path,
        f"email,name,consent.promotions,{EVIDENCE}\n"
        "lan@example.com,Changed,yes,web_form,2,2024-05-01T09:30:00,\n",
    )
    result = importer.import_file(path)
    assert result.failed == 1
    db.session.expire_all()
    assert contact("lan@example.com").name == "Lan"
    assert count(ConsentEvent) == 0


def test_no_records_a_withdrawal_without_evidence(app: object, tmp_path: Path) -> None:
    path = write(tmp_path, "email,consent.promotions,consent.events\nlan@example.com,không,0\n")
    result = importer.import_file(path)
    assert (result.withdrawn, result.failed) == (2, 0)
    assert {(e.action, e.source) for e in events("lan@example.com")} == {("withdraw", "import")}


def test_bad_addresses_are_reported_per_row_and_other_rows_import(
    app: object, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "email,name\nnot-an-address,A\nlan@example.com,Lan\n,Nobody\nb@exa mple.com,B\n",
    )
    result = importer.import_file(path)
    assert (result.rows, result.created, result.failed) == (4, 1, 3)
    by_line = {e.line: e for e in result.errors}
    assert set(by_line) == {2, 4, 5}
    assert by_line[2].field == "email" and "@-sign" in by_line[2].message
    assert by_line[4].message == "is required"
    assert by_line[5].email == "b@exa mple.com"
    assert count(Contact) == 1


def test_reimport_is_idempotent(app: object, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"email,name,tags,consent.promotions,consent.events,{EVIDENCE}\n"
        f'lan@example.com,Lan,"a,b",yes,no,{GIVEN}\n'
        f"minh@example.com,Minh,,true,,{GIVEN}\n",
    )
    first = importer.import_file(path)
    before = (count(Contact), count(ConsentEvent))
    second = importer.import_file(path)
    assert (first.created, first.granted, first.withdrawn) == (2, 2, 1)
    assert second.counts() == {
        "rows": 2, "created": 0, "updated": 0, "unchanged": 2, "granted": 0, "withdrawn": 0,
        "failed": 0,
    }  # fmt: skip
    assert (count(Contact), count(ConsentEvent)) == before == (2, 3)


def test_a_changed_field_counts_as_updated(app: object, tmp_path: Path) -> None:
    importer.import_file(write(tmp_path, "email,name,attr.plan\nlan@example.com,Lan,basic\n"))
    again = write(tmp_path, "email,name,attr.plan\nlan@example.com,Lan,pro\n", name="b.csv")
    result = importer.import_file(again)
    assert (result.updated, result.unchanged) == (1, 0)
    assert contact("lan@example.com").attributes == {"plan": "pro"}


def test_a_later_duplicate_row_updates_the_same_contact(app: object, tmp_path: Path) -> None:
    path = write(tmp_path, "email,name\nlan@example.com,Lan\nLAN@example.com,Lan Nguyen\n")
    result = importer.import_file(path)
    assert (result.created, result.updated, count(Contact)) == (1, 1, 1)
    assert contact("lan@example.com").name == "Lan Nguyen"


def test_excel_file_with_bom_and_semicolons(app: object, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"\ufeffemail;name;consent.promotions;{EVIDENCE.replace(',', ';')}\r\n"
        f"lan@example.com;Nguyễn, Thị Lan;Có;{GIVEN.replace(',', ';')}\r\n",
    )
    result = importer.import_file(path)
    assert (result.created, result.granted, result.failed) == (1, 1, 0)
    assert contact("lan@example.com").name == "Nguyễn, Thị Lan"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("email,nmae,colour", "'nmae' (did you mean 'name'?), 'colour'"),
        ("email,consent.promotion", "'consent.promotion' (did you mean 'consent.promotions'?)"),
        ("name,phone", "no 'email' column"),
        ("email,name,Email", "more than once: Email, email"),
    ],
)
def test_a_bad_header_fails_before_anything_is_written(
    app: object, tmp_path: Path, header: str, message: str
) -> None:
    path = write(tmp_path, f"{header}\nlan@example.com,Lan,x\n")
    with pytest.raises(importer.ImportAborted, match=re.escape(message)):
        importer.import_file(path)
    assert count(Contact) == count(AuditEntry) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"email,name\n", "no contacts"),
        (b"email,name\nlan@example.com,Lan\nminh@example.com,Nguy\xe1n\n", "line 3 is not UTF-8"),
        (b'email,name\nlan@example.com,Lan\nminh@example.com,"Minh\nx@example.com,X\n', "line 3"),
    ],
)
def test_an_unreadable_file_imports_nothing(
    app: object, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(content)
    with pytest.raises(importer.ImportAborted, match=message):
        importer.import_file(path)
    assert count(Contact) == 0


def test_rows_commit_in_chunks_and_a_bad_row_in_between_changes_nothing(
    app: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK", 2)
    rows = "".join(f"user{i}@example.com,User {i}\n" for i in range(5))
    path = write(tmp_path, "email,name\n" + rows.replace("user2@", "bad@@"))
    with committed():
        result = importer.import_file(path)
    db.session.rollback()
    assert (result.created, result.failed, count(Contact)) == (4, 1, 4)


def test_the_import_is_audited_with_its_counts(app: object, tmp_path: Path) -> None:
    path = write(tmp_path, "email\nlan@example.com\nbad\n")
    importer.import_file(path, actor="cli")
    [entry] = db.session.scalars(sa.select(AuditEntry))
    assert (entry.actor, entry.action, entry.object_type) == (
        "cli",
        "contacts.import",
        "import_file",
    )
    assert entry.details["file"] == "contacts.csv"
    assert (entry.details["created"], entry.details["failed"]) == (1, 1)


def test_cli_exits_1_and_writes_escaped_row_errors(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "email,name\n=HYPERLINK(1),A\nlan@example.com,Lan\n")
    result = runner.invoke(main, ["contacts", "import", "--quiet", str(path)])
    assert result.exit_code == 1, result.output
    assert "2 rows: 1 created" in result.output
    with (tmp_path / "contacts.errors.csv").open(encoding="utf-8-sig", newline="") as report:
        rows = list(csv.reader(report))
    assert rows[0] == ["line", "email", "field", "message"]
    assert rows[1][:3] == ["2", "'=HYPERLINK(1)", "email"]


def test_cli_exits_0_without_an_error_file_when_every_row_imports(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = write(tmp_path, "email\nlan@example.com\n")
    result = runner.invoke(main, ["contacts", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 rows: 1 created" in result.output
    assert not (tmp_path / "contacts.errors.csv").exists()


def test_cli_reports_an_unreadable_file_and_exits_1(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "mail,name\nlan@example.com,Lan\n")
    result = runner.invoke(
        main, ["contacts", "import", str(path), "--errors", str(tmp_path / "e.csv")]
    )
    assert result.exit_code == 1
    assert "no 'email' column" in result.output and "Nothing was imported" in result.output
