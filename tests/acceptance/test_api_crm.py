"""A CRM works through the API alone, against the started product (gunicorn, worker, scheduler):
it pages through the contacts with a cursor, suppresses one of them, and the campaign it then
sends skips that person, which the SMTP sink shows."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.acceptance.conftest import Product
from tests.acceptance.journeys import PROMOTIONS, parse, wait_until, with_workers
from tests.smtp_server import SmtpTestServer

SUPPRESSED = "lan.nguyen@example.com"


@pytest.fixture(scope="module")
def product(module_product: Product) -> Product:
    return with_workers(module_product)


def _api(product: Product, key: str, method: str, path: str, body: object = None) -> Any:
    request = urllib.request.Request(
        f"{product.base_url}/api/v1{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _seen(data: bytes) -> tuple[str, str, str, str]:
    message = parse(data)
    return (str(message["To"]), str(message["Subject"]), str(message["Date"]),
            str(message["Message-ID"]))  # fmt: skip


def test_a_crm_pages_contacts_suppresses_one_and_the_campaign_skips_it(
    product: Product, module_sink: SmtpTestServer
) -> None:
    created = product.cli(
        "apikey", "create", "crm", "--scope", "contacts", "--scope", "templates",
        "--scope", "campaigns",
    )  # fmt: skip
    found = re.search(r"key: (\S+)", created)
    assert found, created
    key = found[1]

    emails: list[str] = []
    pages = 0
    query: dict[str, Any] = {"limit": 4}
    while True:
        status, page = _api(product, key, "GET", "/contacts?" + urllib.parse.urlencode(query))
        assert status == 200, page
        emails += [c["email"] for c in page["items"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]
    assert pages > 2 and len(emails) == len(set(emails))  # several pages, nobody twice
    assert set(emails) >= PROMOTIONS
    forged = dict(query, cursor=str(query.get("cursor", "x")) + "x")
    assert _api(product, key, "GET", "/contacts?" + urllib.parse.urlencode(forged))[0] == 422

    status, suppression = _api(
        product, key, "POST", "/suppressions",
        {"email": SUPPRESSED, "scope": "all", "reason": "manual", "note": "CRM ticket 4411"},
    )  # fmt: skip
    assert status == 201, suppression

    status, copied = _api(
        product, key, "POST", "/templates/from-layout",
        {"layout": "promotion", "name": "Khuyến mãi CRM", "purpose": "promotions"},
    )  # fmt: skip
    assert status == 201, copied
    status, campaign = _api(
        product, key, "POST", "/campaigns",
        {"name": "CRM", "kind": "promotion", "purpose": "promotions",
         "template_id": copied["template"]["id"], "data": copied["sample_data"]["vi"]},
    )  # fmt: skip
    assert status == 201, campaign
    since = len(module_sink.messages)
    status, scheduled = _api(product, key, "POST", f"/campaigns/{campaign['id']}/schedule")
    assert status == 200, scheduled

    state: dict[str, Any] = {}

    def done() -> bool:
        state.update(_api(product, key, "GET", f"/campaigns/{campaign['id']}")[1])
        return state.get("status") == "done"

    wait_until(done, "the campaign is done", within=180)
    expected = PROMOTIONS - {SUPPRESSED}
    wait_until(lambda: len(module_sink.messages) - since >= len(expected), "mail at the sink")
    arrived = module_sink.messages[since:]
    reached = [r for m in arrived for r in m.rcpt_tos]
    # Each once, and never the suppressed address; if not, say what each message was.
    assert sorted(reached) == sorted(expected), [_seen(m.data) for m in arrived]

    status, report = _api(product, key, "GET", f"/campaigns/{campaign['id']}/report?limit=200")
    assert status == 200, report
    assert report["counters"]["sent"] == len(expected)
    assert len(report["items"]) == sum(report["counters"].values())
