"""Subscriptions over the API: idempotent PUT, streamed NDJSON bulk with a per-row report,
reads per source, and every hostile input refused with nothing half-written."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from notifier.api.subscriptions import READ_AHEAD
from notifier.contacts.subscriptions import CHUNK
from notifier.infra.extensions import db
from notifier.models import Subscription
from tests.conftest import configure
from tests.integration import test_api_support as support
from tests.integration.helpers import make_contact
from tests.integration.test_api_support import bearer, conforms, issue_key

api, key, live_server = support.api, support.key, support.live_server  # fixtures

ONE, MANY, BULK = (
    "/subscriptions/{external_id}",
    "/contacts/{external_ref}/subscriptions",
    ("/subscriptions/bulk"),
)
NDJSON = "application/x-ndjson"


def fields(**changes: Any) -> dict[str, Any]:
    return {
        "contact": {"external_ref": "KH-001"},
        "kind": "domain",
        "name": "hoalan.vn",
        "plan": "Tên miền .vn",
        "expires_on": "2027-01-15",
        "amount": "750000",
        "currency": "VND",
        "renewal_url": "https://billing.dcnet.vn/gia-han/D-1",
        "attributes": {"registrar": "VNNIC", "auto_renew": False},
        **changes,
    }


def row(external_id: str, **changes: Any) -> dict[str, Any]:
    return {"external_id": external_id, **fields(**changes)}


def ndjson(rows: list[Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Subscription)) or 0


def test_put_creates_then_replaces_the_same_row(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    first = api.put("/api/v1/subscriptions/D-1", json=fields())
    assert first.status_code == 201
    made = conforms(first, "put", ONE)
    assert (made["name"], made["amount"], made["expires_on"], made["status"]) == (
        "hoalan.vn",
        "750000",
        "2027-01-15",
        "active",
    )
    again = api.put("/api/v1/subscriptions/D-1", json=fields())
    assert again.status_code == 200 and count() == 1
    changed = api.put(
        "/api/v1/subscriptions/D-1",
        json=fields(expires_on="2028-01-15", status="renewed", amount="19.5"),
    )
    body = conforms(changed, "put", ONE)
    assert (body["expires_on"], body["status"], body["amount"]) == ("2028-01-15", "renewed", "19.5")
    assert count() == 1
    got = conforms(api.get("/api/v1/subscriptions/D-1"), "get", ONE)
    assert got == body
    listed = conforms(api.get("/api/v1/contacts/KH-001/subscriptions"), "get", MANY)
    assert [s["external_id"] for s in listed["items"]] == ["D-1"]


def test_the_contact_is_found_by_email_too(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    answer = api.put("/api/v1/subscriptions/D-2", json=fields(contact={"email": "AN@example.com"}))
    assert conforms(answer, "put", ONE)["contact_external_ref"] == "KH-001"


def test_an_unknown_or_erased_contact_is_named_and_nothing_is_written(
    app: Flask, api: FlaskClient
) -> None:
    answer = api.put("/api/v1/subscriptions/D-1", json=fields())
    assert answer.status_code == 422
    assert conforms(answer, "put", ONE)["errors"][0]["field"] == "contact.external_ref"
    assert count() == 0


def test_bad_values_are_all_named_and_nothing_is_written(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    bad = fields(
        expires_on="2027-02-30",
        amount="-5",
        currency="XYZ",
        renewal_url="javascript:alert(document.cookie)",
        kind="boat",
        attributes={"Not OK": 1},
    )
    answer = api.put("/api/v1/subscriptions/D-1", json=bad)
    assert answer.status_code == 422
    named = {e["field"] for e in conforms(answer, "put", ONE)["errors"]}
    assert {"expires_on", "amount", "currency", "renewal_url", "kind"} <= named
    assert any(f.startswith("attributes") for f in named)
    assert count() == 0


def test_hostile_urls_are_refused(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    for url in (
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "http://billing.dcnet.vn/renew",
        "https://evil@billing.dcnet.vn/renew",
        "https://billing.dcnet.vn/a\nb",
        "//billing.dcnet.vn/renew",
    ):
        answer = api.put("/api/v1/subscriptions/D-1", json=fields(renewal_url=url))
        assert answer.status_code == 422, url
        assert conforms(answer, "put", ONE)["errors"][0]["field"] == "renewal_url"
    assert count() == 0


def test_a_float_amount_is_refused_rather_than_rounded(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    answer = api.put("/api/v1/subscriptions/D-1", json=fields(amount=0.1))
    assert answer.status_code == 422 and count() == 0


def test_cancelled_is_final(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    assert api.put("/api/v1/subscriptions/D-1", json=fields(status="cancelled")).status_code == 201
    answer = api.put("/api/v1/subscriptions/D-1", json=fields(status="active"))
    assert answer.status_code == 422
    assert conforms(answer, "put", ONE)["errors"][0]["field"] == "status"
    assert db.session.scalar(select(Subscription.status)) == "cancelled"


def test_another_sources_rows_are_not_there(app: Flask, client: FlaskClient) -> None:
    """Two billing systems (keys of two names): neither sees nor changes the other's rows."""
    make_contact("an@example.com", external_ref="KH-001")
    ours = bearer(issue_key("subscriptions"))
    from notifier.operations import staff
    from tests.integration.helpers import committed

    with committed():
        theirs = bearer(staff.create_api_key("reseller", ["subscriptions"]).plaintext)
    assert client.put("/api/v1/subscriptions/D-1", json=fields(), headers=ours).status_code == 201
    assert client.get("/api/v1/subscriptions/D-1", headers=theirs).status_code == 404
    listed = client.get("/api/v1/contacts/KH-001/subscriptions", headers=theirs).get_json()
    assert listed["items"] == []
    # Their PUT of the same id is their own row: ours keeps its values.
    mine = fields(name="khac.vn")
    assert client.put("/api/v1/subscriptions/D-1", json=mine, headers=theirs).status_code == 201
    assert client.get("/api/v1/subscriptions/D-1", headers=ours).get_json()["name"] == "hoalan.vn"


def test_the_subscriptions_scope_is_required(app: Flask, client: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    notices_only = bearer(issue_key("notices", "contacts"))
    for method, path in (
        ("put", "/api/v1/subscriptions/D-1"),
        ("get", "/api/v1/subscriptions/D-1"),
        ("get", "/api/v1/contacts/KH-001/subscriptions"),
        ("post", "/api/v1/subscriptions/bulk"),
    ):
        answer = getattr(client, method)(path, json=fields(), headers=notices_only)
        assert answer.status_code == 403, path
    assert client.put("/api/v1/subscriptions/D-1", json=fields()).status_code == 401
    assert count() == 0


# --- bulk ---------------------------------------------------------------------------------------


def post_bulk(api: FlaskClient, data: bytes, **kwargs: Any) -> Any:
    return api.post("/api/v1/subscriptions/bulk", data=data, content_type=NDJSON, **kwargs)


def test_bulk_writes_the_good_rows_and_names_each_bad_one(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    make_contact("binh@example.com", external_ref="KH-002")
    lines = [
        row("D-1"),
        row("D-2", contact={"email": "binh@example.com"}, name="binh.vn"),
        row("D-3", renewal_url="javascript:alert(1)"),
        row("D-4", contact={"external_ref": "KH-404"}),
        row("D-5", expires_on="2027-13-01", amount="1e9"),
    ]
    body = ndjson(lines[:2]) + ndjson(lines[2:]) + b"{not json\n" + b"[1, 2]\n"
    answer = post_bulk(api, body)
    assert answer.status_code == 422
    errors = conforms(answer, "post", BULK)["errors"]
    assert {(e["line"], e["field"].split(".", 1)[1]) for e in errors} == {
        (3, "renewal_url"),
        (4, "contact.external_ref"),
        (5, "expires_on"),
        (5, "amount"),
        (6, "body"),
        (7, "body"),
    }
    assert sorted(db.session.scalars(select(Subscription.external_id))) == ["D-1", "D-2"]
    # Sending the same file again changes nothing and creates nothing.
    again = post_bulk(api, ndjson(lines[:2]))
    assert conforms(again, "post", BULK) == {"rows": 2, "created": 0, "updated": 2, "errors": []}
    assert count() == 2


def test_bulk_of_many_rows_in_chunks(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    lines = [row(f"D-{i}", expires_on="2027-01-01") for i in range(2500)]
    lines.append(row("D-7", status="renewed"))  # the same id twice: the later line wins
    answer = post_bulk(api, ndjson(lines))
    assert conforms(answer, "post", BULK) == {
        "rows": 2501,
        "created": 2500,
        "updated": 1,
        "errors": [],
    }
    assert count() == 2500
    status = select(Subscription.status).where(Subscription.external_id == "D-7")
    assert db.session.scalar(status) == "renewed"


def test_bulk_refuses_an_oversized_body_and_an_overlong_line(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    configure(app, API_MAX_BULK_BYTES=10_000)
    big = ndjson([row(f"D-{i}") for i in range(100)])
    assert len(big) > 10_000
    answer = post_bulk(api, big)
    assert answer.status_code == 413 and count() == 0
    configure(app, API_MAX_BULK_BYTES=1_000_000)
    long_line = json.dumps(row("D-1", plan="x" * 20_000)).encode() + b"\n"
    answer = post_bulk(api, long_line + ndjson([row("D-2")]))
    errors = conforms(answer, "post", BULK)["errors"]
    assert [(e["line"], e["detail"]) for e in errors] == [
        (1, "the line is longer than 16384 bytes")
    ]
    assert list(db.session.scalars(select(Subscription.external_id))) == ["D-2"]


def test_bulk_refuses_json_and_hostile_text(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    answer = api.post("/api/v1/subscriptions/bulk", json=[row("D-1")])
    assert answer.status_code == 415
    nul = json.dumps(row("D-1", name="a\u0000b")).encode() + b"\n"
    answer = post_bulk(api, nul)
    assert answer.status_code == 422
    assert conforms(answer, "post", BULK)["errors"][0]["field"] == "[0].name"
    assert count() == 0


def test_bulk_streams_a_chunked_body(app: Flask, key: str, live_server: str) -> None:
    """No Content-Length, over a real socket: read line by line as it arrives, and bounded."""
    make_contact("an@example.com", external_ref="KH-001")
    configure(app, API_MAX_BULK_BYTES=50_000)

    def chunks(n: int) -> Any:
        for i in range(n):
            yield json.dumps(row(f"D-{i}")).encode() + b"\n"

    def send(n: int) -> tuple[int, Any]:
        address = urlsplit(live_server)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        headers = {"Content-Type": NDJSON, **bearer(key)}
        connection.request(
            "POST", "/api/v1/subscriptions/bulk", chunks(n), headers, encode_chunked=True
        )
        answer = connection.getresponse()
        status, body = answer.status, json.loads(answer.read())
        connection.close()
        return status, body

    status, body = send(100)
    assert (status, body["created"]) == (200, 100)
    status, body = send(1000)  # about 300 KB: over the limit, however it is sent
    assert status == 413, body


def test_bulk_stops_after_the_most_rows(app: Flask, api: FlaskClient) -> None:
    make_contact("an@example.com", external_ref="KH-001")
    configure(app, API_MAX_BULK_ROWS=5)
    answer = post_bulk(api, ndjson([row(f"D-{i}") for i in range(8)]))
    errors = conforms(answer, "post", BULK)["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(6, "[5].body")]
    assert count() == 5
    assert (
        api.get("/api/v1/openapi.json").get_json()["paths"][BULK]["post"]["requestBody"]["content"][
            NDJSON
        ]["schema"]["maxItems"]
        == 5
    )


def test_bulk_reads_lines_across_the_read_ahead(app: Flask, api: FlaskClient) -> None:
    """The body is read 64 KiB at a time: lines that straddle a read, and an overlong one in the
    middle, keep their line numbers; the rows after it are written."""
    make_contact("an@example.com", external_ref="KH-001")
    configure(app, API_MAX_BULK_BYTES=1_000_000)
    lines = [json.dumps(row(f"D-{i}")).encode() + b"\n" for i in range(400)]
    lines[199] = json.dumps(row("D-199", plan="x" * 20_000)).encode() + b"\n"
    body = b"".join(lines)
    assert len(body) > 2 * READ_AHEAD
    errors = conforms(post_bulk(api, body), "post", BULK)["errors"]
    assert [(e["line"], e["detail"]) for e in errors] == [
        (200, "the line is longer than 16384 bytes")
    ]
    assert count() == 399


def test_bulk_finds_hostile_text_however_it_is_written(app: Flask, api: FlaskClient) -> None:
    """A lone surrogate escaped, or encoded in UTF-8 (json.loads passes it through), and nesting
    past the limit are each refused by line; the plain row between them is written."""
    make_contact("an@example.com", external_ref="KH-001")
    escaped = json.dumps(row("D-1", name="a\ud800b")).encode()
    encoded = json.dumps(row("D-2", name="a__b"), ensure_ascii=False).encode()
    encoded = encoded.replace(b"a__b", b"a\xed\xa0\x80b")
    deep: Any = "x"
    for _ in range(20):
        deep = [deep]
    nested = json.dumps({**row("D-3"), "attributes": {"a": deep}}).encode()
    body = b"\n".join([escaped, encoded, json.dumps(row("D-4")).encode(), nested]) + b"\n"
    errors = conforms(post_bulk(api, body), "post", BULK)["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (1, "[0].name"),
        (2, "[1].name"),
        (4, "[3].attributes.a[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"),
    ]
    assert list(db.session.scalars(select(Subscription.external_id))) == ["D-4"]


def test_bulk_names_bad_rows_on_both_sides_of_a_chunk_boundary(
    app: Flask, api: FlaskClient
) -> None:
    """Bad rows as the last of one chunk, the first of the next and in the middle of one keep
    their line numbers, and the rows around them are written."""
    make_contact("an@example.com", external_ref="KH-001")
    configure(app, API_MAX_BULK_BYTES=5_000_000)
    rows = [row(f"D-{i}") for i in range(CHUNK + 500)]
    for line in (500, CHUNK, CHUNK + 1, CHUNK + 2):
        rows[line - 1] = row(f"D-{line - 1}", kind="boat")
    errors = conforms(post_bulk(api, ndjson(rows)), "post", BULK)["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (500, "[499].kind"),
        (CHUNK, f"[{CHUNK - 1}].kind"),
        (CHUNK + 1, f"[{CHUNK}].kind"),
        (CHUNK + 2, f"[{CHUNK + 1}].kind"),
    ]
    assert count() == CHUNK + 500 - 4
