"""Bulk upsert of subscriptions through the real HTTP API: N rows (100,000 by default) as one
NDJSON request to gunicorn (the Procfile's web process, its default 30 s worker timeout), timed
from the first byte sent to the answer, then the same file again (every row an update).

    PYTHONPATH=. python -m bench.subscriptions --rows 100000 \\
        --database postgresql://postgres@127.0.0.1:5432/bench_subs --redis redis://127.0.0.1:6379/2

The contacts are seeded directly (bench/seed.py); the rows name them by email. Target: under
30 s for 100,000 rows on PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import func, select

from bench.campaign import fresh_database
from bench.notices import WebServer
from bench.seed import seed_contacts
from notifier import create_app
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Subscription
from notifier.operations import staff
from notifier.operations.bootstrap import prepare_database


def rows(count: int, contacts: int) -> Iterator[bytes]:
    for number in range(count):
        row = {
            "external_id": f"S-{number}",
            "contact": {"email": f"c{number % contacts}@bench.example.com"},
            "kind": "domain",
            "name": f"khach{number}.vn",
            "plan": "Tên miền .vn",
            "expires_on": f"2027-{1 + number % 12:02d}-{1 + number % 28:02d}",
            "amount": "750000",
            "currency": "VND",
            "renewal_url": f"https://billing.example.vn/gia-han/S-{number}",
            "attributes": {"registrar": "VNNIC"},
        }
        yield json.dumps(row, ensure_ascii=False).encode() + b"\n"


def post(url: str, key: str, count: int, contacts: int) -> tuple[float, int, dict]:
    address = url.removeprefix("http://")
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    started = time.perf_counter()
    connection.request(
        "POST", "/api/v1/subscriptions/bulk", rows(count, contacts), headers, encode_chunked=True
    )
    answer = connection.getresponse()
    body = json.loads(answer.read())
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, answer.status, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--database", default="")
    parser.add_argument("--redis", default="")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="notifier-bench-subs-"))
    settings = {
        "DATABASE_URL": fresh_database(args.database, workdir),
        "REDIS_URL": args.redis or "redis://127.0.0.1:6379/2",
        "SECRET_KEY": secrets.token_hex(32),
        "PROFILE": "dcnet",
        "PUBLIC_BASE_URL": "https://bench.example",
        "API_RATE_LIMIT": 1_000_000,
    }
    app = create_app(settings)
    prepare_database(app)
    with app.app_context():
        seed_contacts(args.contacts, "promotions")
        with unit_of_work():
            key = staff.create_api_key("billing", ["subscriptions"]).plaintext
    env = {**os.environ, **{f"NOTIFIER_{k}": str(v) for k, v in settings.items()}}
    web = WebServer(env)
    try:
        for run in ("create", "update"):
            elapsed, status, body = post(web.url, key, args.rows, args.contacts)
            figures = {k: body.get(k) for k in ("rows", "created", "updated")}
            print(
                f"{run}: {args.rows} rows in {elapsed:.1f} s ({args.rows / elapsed:,.0f} rows/s), "
                f"HTTP {status}, {figures}, errors: {len(body.get('errors') or [])}"
            )
    finally:
        web.stop()
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(Subscription))
        print(f"stored: {stored} subscriptions")


if __name__ == "__main__":
    main()
