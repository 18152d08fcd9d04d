"""Benchmark planning alone: the INSERT ... SELECT that snapshots a large audience into the ledger.

python bench/plan.py --contacts 1000000 --database postgresql://postgres@127.0.0.1:5432/bench_plan
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.campaign import create_campaign, fresh_database
from bench.seed import seed_contacts
from notifier import create_app
from notifier.campaigns import lifecycle as campaigns
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Campaign, CampaignStatus
from notifier.operations.bootstrap import prepare_database

# The bench mix's eligible contacts: granted and not suppressed.
ELIGIBLE = (
    "SELECT c.email FROM contacts c JOIN consent_states s ON s.contact_id = c.id "
    "WHERE s.status = 'granted' AND NOT EXISTS "
    "(SELECT 1 FROM suppressions x WHERE x.address_hash = c.address_hash)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_plan")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--reuse", action="store_true", help="plan again over seeded contacts")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="notifier-plan-"))
    settings = {
        "DATABASE_URL": args.database if args.reuse else fresh_database(args.database, workdir),
        "REDIS_URL": args.redis,
        "SECRET_KEY": secrets.token_hex(32),  # production checks refuse weak keys
        "PUBLIC_BASE_URL": "https://bench.example",
    }
    app = create_app(settings)
    prepare_database(app)
    with app.app_context():
        started = time.perf_counter()
        if args.reuse:
            eligible = set(db.session.scalars(db.text(ELIGIBLE)))
        else:
            eligible = seed_contacts(args.contacts, "promotions")
        seeded = time.perf_counter() - started
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        campaign_id = create_campaign()
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.status = CampaignStatus.SENDING  # plan without enqueueing via the scheduler
        db.session.commit()
        started = time.perf_counter()
        with unit_of_work():
            planned = campaigns.plan(campaign_id)
        elapsed = time.perf_counter() - started
    print(f"contacts {args.contacts}, eligible {len(eligible)}, seeded in {seeded:.1f} s")
    print(f"planned {planned} deliveries in {elapsed:.2f} s ({planned / elapsed:,.0f} rows/s)")
    assert planned == len(eligible)


if __name__ == "__main__":
    main()
