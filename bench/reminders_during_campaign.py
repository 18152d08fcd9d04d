"""A day's renewal reminders sent while a campaign runs: due moment to the relay's 250, per notice.

    PYTHONPATH=. python -m bench.reminders_during_campaign --contacts 100000 --reminders 50000 \\
        --workers 2 --database postgresql://postgres@127.0.0.1:5432/bench_rdc \\
        --redis redis://127.0.0.1:6379/10

Two runs on PostgreSQL, each in a fresh database, with N `notifier worker` processes (as
bench/campaign.py starts them) and postfix's smtp-sink as the relay:

1. the campaign alone (bench/campaign.py's run, in `<database>_alone`): its messages per second;
2. the same campaign, with `--reminders` subscriptions whose reminder (step -7, expiry a week
   ahead) the product's scheduler round (`reminders.create_due`) made beforehand, as production
   makes them up to a day ahead, each a queued notice with its send_at. "A day" is compressed:
   once the campaign is scheduled their send_at are spread evenly over `--reminders /
   --reminder-rate` seconds from one scheduler interval later (one UPDATE; the scheduler's
   notice timer reads what comes due that far ahead), and a real `notifier scheduler` process, which
   enqueues notices as they come due, and the workers send them while the campaign sends.

Each notice is timed from the moment it became due (its send_at, or its created_at if later) to
the moment the worker recorded the relay's 250 (`sent_at`). Exactly once: every notice sent, the
campaign's sent count the eligible contacts, the sink's count both together, one send-log row a
notice. The machine is shared: compare the campaign's ratio (with / alone) and the percentiles.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.campaign import (
    at_least,
    create_campaign,
    fresh_database,
    print_figures,
    run,
    wait_until_done,
    wait_until_listening,
)
from bench.seed import seed_contacts
from bench.sinks import smtp_source_rate, start_sink
from notifier import create_app
from notifier.campaigns import lifecycle as campaigns
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Delivery, Notice, NoticeStatus, SendLog, utcnow
from notifier.notices import reminders
from notifier.operations.bootstrap import prepare_database

NOTICE_TYPE = "renewal"  # one of the dcnet profile's notice types, with a reminder-ready template
STEP = -7
# Every subscription expires a week from today: the step's day is today for all of them. They
# belong to the contacts no suppression stops (the seed suppresses 1 in 20), in turn.
SUBSCRIPTIONS = """
WITH reachable AS (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS r FROM contacts
    WHERE address_hash NOT IN (SELECT address_hash FROM suppressions))
INSERT INTO subscriptions (source, external_id, contact_id, kind, name, plan, expires_on,
    amount, currency, renewal_url, status, attributes, created_at, updated_at)
SELECT 'billing', 'S-' || n, reachable.id, 'domain', 'khach' || n || '.vn', '',
    CAST(:expires_on AS date), 750000, 'VND',
    'https://billing.example.vn/gia-han/S-' || n, 'active', '{}', now(), now()
FROM generate_series(0, :count - 1) AS n
JOIN reachable ON reachable.r = n % (SELECT count(*) FROM reachable)
"""
# Made ahead, the notices wait for their moment: far off until the campaign starts.
POSTPONE = "UPDATE notices SET send_at = :later WHERE status = 'queued'"
# "A day" compressed: the n-th notice (by id) comes due n * window / count after the start.
SPREAD = """
UPDATE notices SET send_at = :start + (spread.n * :window / :count) * interval '1 second'
FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM notices
      WHERE status = 'queued') AS spread
WHERE notices.id = spread.id
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=at_least(20), default=100_000)
    parser.add_argument("--reminders", type=at_least(1), default=50_000)
    parser.add_argument(
        "--reminder-rate",
        type=at_least(1, float),
        default=500.0,
        help="reminders coming due a second (the day compressed)",
    )
    parser.add_argument("--workers", type=at_least(1), default=2)
    parser.add_argument("--batch-size", type=at_least(1), default=1000)
    parser.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/bench_rdc",
        help="PostgreSQL URL; the campaign alone runs in <name>_alone",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument(
        "--interval", type=at_least(0.1, float), default=5.0, help="the scheduler's --interval"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    # What bench/campaign.py's run reads besides these.
    args.notices, args.notice_rate, args.dkim, args.builtin_sink = 0, 1.0, False, False
    return args


def main() -> None:
    args = parse_args()
    sink = start_sink()
    print(f"sink: {sink.kind} on 127.0.0.1:{sink.port}")
    figures: dict[str, object] = {"load_average_at_start": os.getloadavg()[0]}
    alone = campaign_alone(args, sink)
    figures["campaign_alone_messages_per_s"] = alone["messages_per_s"]
    figures.update(campaign_with_reminders(args, sink))
    figures["campaign_ratio_with_to_alone"] = round(
        figures["campaign_messages_per_s"] / alone["messages_per_s"],
        3,  # type: ignore[operator]
    )
    limit = smtp_source_rate(sink.port, min(50_000, max(10_000, args.contacts // 3)), 15_000)
    figures["smtp_source_limit_per_s"] = round(limit) if limit else None
    figures["load_average_at_end"] = os.getloadavg()[0]
    sink.stop()
    report(args, figures)


def settings_for(args: argparse.Namespace, database: str, port: int, workdir: Path) -> dict:
    return {
        "DATABASE_URL": fresh_database(database, workdir),
        "REDIS_URL": args.redis,
        "SECRET_KEY": secrets.token_hex(32),  # production checks refuse weak keys
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "PROFILE": "dcnet",
        "PUBLIC_BASE_URL": "https://bench.example",
        "BATCH_SIZE": args.batch_size,
    }


def campaign_alone(args: argparse.Namespace, sink: object) -> dict:
    """bench/campaign.py's run, in a database of its own: the reference messages per second."""
    workdir = Path(tempfile.mkdtemp(prefix="notifier-bench-rdc-"))
    settings = settings_for(args, f"{args.database}_alone", sink.port, workdir)  # type: ignore[attr-defined]
    app = create_app(settings)
    prepare_database(app)
    with app.app_context():
        seed_contacts(args.contacts, "promotions")
        with unit_of_work():
            campaign_id = create_campaign()
        figures = run(app, args, settings, workdir, campaign_id, sink)
        db.engine.dispose()
    print(f"campaign alone: {figures['messages_per_s']} msg/s")
    return figures


def campaign_with_reminders(args: argparse.Namespace, sink: object) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="notifier-bench-rdc-"))
    settings = settings_for(args, args.database, sink.port, workdir)  # type: ignore[attr-defined]
    app = create_app(settings)
    prepare_database(app)
    with app.app_context():
        eligible = seed_contacts(args.contacts, "promotions")
        made = make_reminders(args)
        with unit_of_work():
            campaign_id = create_campaign()
        accepted_before = sink.accepted()  # type: ignore[attr-defined]
        figures = send_both(args, settings, workdir, campaign_id)
        figures.update(reminder_figures(made))
        figures.update(exactly_once(campaign_id, eligible, made, sink, accepted_before))
        db.engine.dispose()
    return figures


def make_reminders(args: argparse.Namespace) -> int:
    """The subscriptions, and their notices made by the product's scheduler task."""
    started = time.perf_counter()
    expires_on = utcnow().date() - timedelta(days=STEP)
    params = {"count": args.reminders, "expires_on": expires_on}
    db.session.execute(sa.text(SUBSCRIPTIONS), params)
    db.session.commit()
    with unit_of_work():
        reminders.set_schedule(NOTICE_TYPE, [STEP], 9, False)
    made = 0
    while True:
        with unit_of_work():
            count = reminders.create_due(utcnow())
            db.session.execute(sa.text(POSTPONE), {"later": utcnow() + timedelta(days=1)})
        made += count
        if count == 0:
            break
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    print(f"{made:,} reminder notices made in {time.perf_counter() - started:.1f} s")
    if made != args.reminders:
        raise SystemExit(f"expected {args.reminders} reminder notices, made {made}")
    return made


def send_both(args: argparse.Namespace, settings: dict, workdir: Path, campaign_id: int) -> dict:
    """Workers and a scheduler process; the campaign scheduled, the reminders spread after it."""
    env = {
        **os.environ,
        "NOTIFIER_INSTANCE_PATH": str(workdir / "instance"),
        "NOTIFIER_PROFILE": "dcnet",
        "NOTIFIER_BATCH_SIZE": str(args.batch_size),
        "NOTIFIER_SEND_JOBS": str(args.workers * 2),
        **{k: str(v) for k, v in settings.items() if k != "BATCH_SIZE"},
    }
    notifier = str(Path(sys.executable).with_name("notifier"))
    # Their logs (a line per notice job) go to a file: the figures stay readable.
    log = (workdir / "processes.log").open("w")
    workers = [
        subprocess.Popen(
            [notifier, "worker", "--queues", "notices,campaigns,send"],
            env=env,
            stdout=log,
            stderr=log,
        )
        for _ in range(args.workers)
    ]
    wait_until_listening(args.workers)
    # As an operator runs it (`notifier scheduler`); its rounds enqueue the notices come due.
    # It runs all along in production: the reminders come due once its first round is on.
    connected = database_connections()
    scheduler = subprocess.Popen(
        [notifier, "scheduler", "--interval", str(args.interval)], env=env, stdout=log, stderr=log
    )
    while database_connections() <= connected:  # its first round opens its connection
        if scheduler.poll() is not None:
            raise SystemExit(f"the scheduler stopped: see {log.name}")
        time.sleep(0.1)
    started_wall = time.time()
    with unit_of_work():
        campaigns.schedule(campaign_id)
    window = args.reminders / args.reminder_rate
    # The first reminder comes due one scheduler interval (and a second) after the campaign
    # starts, while it sends. The UPDATE moves each send_at behind the scheduler's notice
    # timer, which learns of a moment at its next read (every --interval seconds, up to two
    # intervals ahead); in production a reminder's send_at is fixed when the round makes it, a
    # day ahead. Due sooner, the first ones measured that read's phase: up to 2.9 s of wait
    # for the notices of the first 7 seconds (docs/reminders.md).
    start = utcnow() + timedelta(seconds=args.interval + 1)
    db.session.execute(sa.text(SPREAD), {"start": start, "window": window, "count": args.reminders})
    db.session.commit()
    campaign_end = wait_until_done(campaign_id, None)  # its last accepted message
    # Past the window, the backlog drains at the pipeline's own speed (tens a second on 2 cores).
    notices_end = wait_for_notices(timeout=window + 120 + args.reminders / 10)
    for process in [scheduler, *workers]:
        process.terminate()
    for process in [scheduler, *workers]:
        process.wait(30)
    log.close()
    print(f"the workers' and scheduler's logs: {log.name}")
    planned = db.session.scalar(
        sa.select(sa.func.count()).where(Delivery.campaign_id == campaign_id)
    )
    return {
        "campaign_messages": planned,
        "campaign_messages_per_s": round(planned / (campaign_end - started_wall)),
        "reminder_window_s": round(window, 1),
        "reminders_due_while_campaign_sent": min(
            args.reminders, round(max(0.0, campaign_end - start.timestamp()) * args.reminder_rate)
        ),
        "notices_last_sent_after_start_s": round(notices_end - start.timestamp(), 1),
    }


def database_connections() -> int:
    """Sessions open on this database: the workers' are open once they listen, and the
    scheduler process opens its own in its first round (a few seconds after it starts)."""
    db.session.remove()
    count = db.session.scalar(
        sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
    )
    db.session.remove()
    return int(count or 0)


def wait_for_notices(timeout: float) -> float:
    """Wall-clock time of the last notice's 250, once none is queued or sending."""
    deadline = time.monotonic() + timeout
    open_statuses = (NoticeStatus.QUEUED, NoticeStatus.SENDING)
    while db.session.scalar(sa.select(sa.func.count()).where(Notice.status.in_(open_statuses))):
        if time.monotonic() > deadline:
            raise SystemExit("notices still open after the timeout")
        db.session.remove()
        time.sleep(0.2)
    last = db.session.scalar(sa.select(sa.func.max(Notice.sent_at)))
    return last.replace(tzinfo=UTC).timestamp() if last else float("nan")


def reminder_figures(made: int) -> dict:
    """Due moment (send_at, or created_at if later) to the relay's 250, over the sent notices."""
    due = sa.func.greatest(Notice.send_at, Notice.created_at)
    seconds = sa.extract("epoch", Notice.sent_at - due)
    latencies = sorted(
        float(s) for s in db.session.scalars(sa.select(seconds).where(Notice.status == "sent"))
    )
    span = db.session.scalar(
        sa.select(sa.extract("epoch", sa.func.max(Notice.sent_at) - sa.func.min(due)))
    )
    figures: dict[str, object] = {
        "notices_made": made,
        "notices_sent": len(latencies),
        "notices_per_s": round(len(latencies) / float(span)) if span else None,
    }
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100)
        figures.update(
            notice_p50_ms=round(statistics.median(latencies) * 1000),
            notice_p95_ms=round(cuts[94] * 1000),
            notice_p99_ms=round(cuts[98] * 1000),
            notice_max_ms=round(latencies[-1] * 1000),
        )
    return figures


def exactly_once(
    campaign_id: int, eligible: set[str], made: int, sink: object, accepted_before: int
) -> dict:
    counts = campaigns.counters(campaign_id)
    by_status = dict(
        db.session.execute(sa.select(Notice.status, sa.func.count()).group_by(Notice.status)).all()
    )
    logged = db.session.scalar(sa.select(sa.func.count()).where(SendLog.advertising.is_(False)))
    accepted = sink.accepted() - accepted_before  # type: ignore[attr-defined]
    return {
        "campaign_ledger": counts,
        "notice_statuses": {str(k): v for k, v in by_status.items()},
        "campaign_sent_equals_eligible": counts.get("sent") == len(eligible),
        "notices_sent_equals_made": by_status.get("sent") == made,
        "one_send_log_row_per_notice": logged == by_status.get("sent"),
        "sink_accepted": accepted,
        "sink_count_equals_campaign_plus_notices": accepted == len(eligible) + made,
    }


def report(args: argparse.Namespace, figures: dict) -> None:
    options = [
        f"--contacts {args.contacts}",
        f"--reminders {args.reminders}",
        f"--reminder-rate {args.reminder_rate:g}",
        f"--workers {args.workers}",
        f"--database {args.database}",
        f"--redis {args.redis}",
    ]
    options += [f"--interval {args.interval:g}"] if args.interval != 5.0 else []
    print(f"\ncommand: PYTHONPATH=. python -m bench.reminders_during_campaign {' '.join(options)}")
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
