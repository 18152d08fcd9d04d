"""Benchmark the campaign page's charts and the comparison at 10,000,000 tracking events.

python bench/engagement_charts.py --events 10000000 --database postgresql://postgres@127.0.0.1:5432/bench_charts

Seeds contacts, N campaigns (sent) and the events spread over them and over 30 days (a third
clicks, one in ten flagged as a machine's), all with server-side INSERT ... SELECT over
generate_series (PostgreSQL only); VACUUM ANALYZE; then prints the plan of one campaign's series
(EXPLAIN ANALYZE, BUFFERS) and times, through the use cases the pages call, the charts of one
campaign (engagement_series.over_time: two series and the roll-up) and the comparison of the
last 10 and 50 campaigns (comparison.last_campaigns), p50/p95, and the load average.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from bench.admin_scale import summary, timed
from bench.campaign import create_campaign, fresh_database
from notifier import create_app
from notifier.campaigns import comparison, engagement_series
from notifier.domain.tokens import CLICK
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Campaign, CampaignStatus, StaffUser
from notifier.operations.access import access_for
from notifier.operations.bootstrap import prepare_database

START = datetime(2026, 11, 1, 8, tzinfo=UTC)


def seed(contacts: int, campaigns: int, events: int) -> list[int]:
    db.session.execute(
        sa.text(
            """INSERT INTO contacts (id, email, address_hash, name, phone, address, organisation,
                contact_person, national_id, locale, time_zone, attributes, deal, created_at,
                updated_at)
            SELECT n, 'c' || n || '@bench.example.com', md5(n::text) || md5(n::text),
                'Khách hàng ' || n, '', '', '', '', '', 'vi', 'Asia/Ho_Chi_Minh', '{}'::json,
                '{}'::json, now(), now()
            FROM generate_series(1, :n) AS n"""
        ),
        {"n": contacts},
    )
    db.session.commit()
    ids = []
    for _ in range(campaigns):
        with unit_of_work():
            ids.append(create_campaign())
    db.session.execute(
        sa.update(Campaign)
        .where(Campaign.id.in_(ids))
        .values(status=CampaignStatus.DONE, send_at=START)
    )
    db.session.commit()
    # Most events in the first hours, as mail is read: the minute is n's square root spread.
    db.session.execute(
        sa.text(
            """INSERT INTO tracking_events (campaign_id, contact_id, kind, link, flags, at)
            SELECT (:ids)[1 + n % :k], 1 + (n / :k) % :contacts,
                CASE WHEN n % 3 = 0 THEN 'c' ELSE 'o' END, n % 4,
                CASE WHEN n % 10 = 0 THEN 1 ELSE 0 END,
                :start + ((n % 43200) ^ 2 / 43200.0) * interval '1 minute'
            FROM generate_series(1, :events) AS n"""
        ),
        {"ids": ids, "k": campaigns, "contacts": contacts, "events": events,
         "start": START.replace(tzinfo=None)},
    )  # fmt: skip
    db.session.commit()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_charts")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="measure the seeded database again")
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        sys.exit("bench/engagement_charts.py seeds with generate_series: give a PostgreSQL URL")
    workdir = Path(tempfile.mkdtemp(prefix="notifier-charts-"))
    settings = {
        "DATABASE_URL": args.database if args.reuse else fresh_database(args.database, workdir),
        "REDIS_URL": args.redis,
        "SECRET_KEY": secrets.token_hex(32),
        "PUBLIC_BASE_URL": "https://bench.example",
    }
    app = create_app(settings)
    prepare_database(app)
    with app.app_context():
        if not args.reuse:
            started = time.perf_counter()
            seed(args.contacts, args.campaigns, args.events)
            print(f"seeded {args.events:,} events over {args.campaigns} campaigns "
                  f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
            engine = sa.create_engine(
                db.engine.url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
            )
            with engine.connect() as conn:
                conn.execute(sa.text("VACUUM ANALYZE tracking_events"))
            engine.dispose()
        campaign_id = int(db.session.scalar(sa.text("SELECT min(id) FROM campaigns")))
        held = db.session.scalar(
            sa.text("SELECT count(*) FROM tracking_events WHERE campaign_id = :c"),
            {"c": campaign_id},
        )
        statement = engagement_series.series_statement(
            campaign_id, CLICK, START + timedelta(hours=48)
        )
        sql = str(
            statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        )
        plan = db.session.scalars(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql))
        print(f"one campaign's click series ({held:,} of its events held):")
        print("\n".join("    " + line for line in plan))
        db.session.rollback()
        admin = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == "bench@x.vn"))
        if admin is None:
            admin = StaffUser(email="bench@x.vn", name="bench", role="admin", password_hash="!")  # noqa: S106 - no sign-in
            db.session.add(admin)
            db.session.commit()
        access = access_for(admin)
        now = START + timedelta(days=40)
        charts = timed(
            lambda: engagement_series.campaign_over_time(access, campaign_id, now), args.repeat
        )
        print(f"charts of one campaign (two series and the roll-up): {summary(charts)}")
        for count in (comparison.DEFAULT_COUNT, comparison.MAX_COUNT):
            compared = timed(lambda n=count: comparison.last_campaigns(access, n), args.repeat)
            print(f"comparison of the last {count} campaigns: {summary(compared)}")
        print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
