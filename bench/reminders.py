"""Renewal reminders at scale: N active subscriptions (1,000,000 by default) expiring over the
next year, a schedule of -30, -7, -1 and +3 days, then the scheduler's reminders task timed:
the first round (cancel stale, one INSERT ... SELECT per step, a batch of notices) and the
rounds until every due reminder has its notice, then one more round (nothing to do).

    PYTHONPATH=. python -m bench.reminders --subscriptions 1000000 \\
        --database postgresql://postgres@127.0.0.1:5432/bench_reminders

The subscriptions are seeded with one INSERT ... SELECT FROM generate_series (PostgreSQL).
Target: finding and creating the due reminders in under 30 s for 1,000,000 subscriptions.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text

from bench.campaign import fresh_database
from bench.seed import seed_contacts
from notifier import create_app
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Notice, Reminder, ReminderStatus, utcnow
from notifier.notices import reminders
from notifier.operations.bootstrap import prepare_database

SEED = """
INSERT INTO subscriptions (source, external_id, contact_id, kind, name, plan, expires_on,
    amount, currency, renewal_url, status, attributes, created_at, updated_at)
SELECT 'billing', 'S-' || n, 1 + n % :contacts, 'domain', 'khach' || n || '.vn', '',
    CAST(:today AS date) - 3 + (n % 368), 750000, 'VND',
    'https://billing.example.vn/gia-han/S-' || n, 'active', '{}', now(), now()
FROM generate_series(0, :count - 1) AS n
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/bench_reminders"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="notifier-bench-reminders-"))
    app = create_app(
        {
            "DATABASE_URL": fresh_database(args.database, workdir),
            "REDIS_URL": args.redis,
            "SECRET_KEY": secrets.token_hex(32),
            "PROFILE": "dcnet",
            "PUBLIC_BASE_URL": "https://bench.example",
        }
    )
    prepare_database(app)  # with the profile's notice types, `renewal` among them
    with app.app_context():
        seed_contacts(args.contacts, "renewal")
        started = time.perf_counter()
        params = {"count": args.subscriptions, "contacts": args.contacts, "today": utcnow().date()}
        db.session.execute(text(SEED), params)
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(
            f"seeded {args.subscriptions:,} subscriptions in {time.perf_counter() - started:.1f} s"
        )
        with unit_of_work():
            reminders.set_schedule("renewal", [-30, -7, -1, 3], 9, False)
        total, rounds, made = 0.0, 0, 0
        while True:
            started = time.perf_counter()
            with unit_of_work():
                count = reminders.create_due(utcnow())
            elapsed = time.perf_counter() - started
            total, rounds, made = total + elapsed, rounds + 1, made + count
            print(f"round {rounds}: {count:,} notices in {elapsed:.2f} s")
            if count == 0:
                break
        rows = db.session.scalar(select(func.count()).select_from(Reminder))
        missed = db.session.scalar(
            select(func.count()).where(Reminder.status == ReminderStatus.CANCELLED)
        )
        notices = db.session.scalar(select(func.count()).select_from(Notice))
        print(
            f"{rows:,} reminders ({missed:,} missed), {notices:,} notices, in {rounds} rounds: "
            f"{total:.1f} s in all"
        )


if __name__ == "__main__":
    main()
