"""Benchmark the tracking endpoints (GET /t/c/<token>, /t/o/<token>) under gunicorn with wrk.

    python bench/tracking_redirect.py [--requests 300000] [--events 10000000] [--reuse]
    python bench/tracking_redirect.py --long      # 10,010,000 events through the endpoint

Seeds PostgreSQL with generate_series: contacts and their consent (7 in 10 granted, 2
withdrawn, 1 never asked: bench/admin_scale.py's seed), one tracked promotion whose ledger is
sent (a day ago, well past TRACKING_PREFETCH_SECONDS, so the events are people's), more finished
campaigns, and tracking_events up to --events, so the table has its full size before the first
request. Signs click and open tokens for the sent contacts with the product's own token code,
starts gunicorn with the Procfile's web command (PORT, WEB_CONCURRENCY) on 127.0.0.1, and drives
--requests requests through the endpoints with wrk (a fixed number of connections, each
cycling through the token file; `make wrk` installs it). Then it checks in the database that
every request wrote exactly the row expected (a person's click or open, no flag; nothing for a
withdrawn contact, whose link still redirects) and times the campaign's engagement counts and
CSV, the reads of the campaign page, over the full table. It prints req/s, p50/p95/p99 from
wrk, the CPU seconds of gunicorn, PostgreSQL and wrk per request, the load average, and one
summary line to paste. The machine is shared: the load average is part of every figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.admin_scale import bench_access
from bench.admin_scale import seed as seed_contacts
from bench.campaign import CLK_TCK, at_least, create_campaign, fresh_database
from notifier import create_app
from notifier.campaigns import comparison, engagement
from notifier.campaigns import engagement_tallies as tallies
from notifier.domain.tokens import CLICK, OPEN, make_tracking_token
from notifier.infra.context import token_secret
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Campaign, CampaignStatus
from notifier.operations.bootstrap import prepare_database

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).with_name("tracking_redirect.lua")
# A person's browser: no scanner, no Apple proxy (domain/tracking.py), so every event counts.
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
DESTINATIONS = (
    "https://dcnet.example/khuyen-mai/thang-12?utm_source=email&utm_campaign=bench",
    "https://dcnet.example/san-pham/may-loc-nuoc",
    "https://dcnet.example/lien-he",
)


def tracked_profile(folder: Path) -> Path:
    """dcnet whose promotions notice (version 1, the one the seed's consent names) discloses
    click and open tracking: the mail these tokens stand for was tracked."""
    text = (ROOT / "config/profiles/dcnet.toml").read_text(encoding="utf-8")
    anchor = 'list_id = "promotions.dcnet.example"'
    disclosed = 'tracking = { clicks = true, opens = true, notice_versions = ["1"] }'
    path = folder / "tracked.toml"
    path.write_text(text.replace(anchor, f"{anchor}\n{disclosed}"), encoding="utf-8")
    return path


def seed(contacts: int, events: int, campaigns: int) -> tuple[int, datetime]:
    """The contacts, the measured campaign's sent ledger, `campaigns - 1` more finished
    campaigns and `events` past events spread over all of them (people's and machines')."""
    seed_contacts(contacts)
    sent_at = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    ids = []
    for _ in range(campaigns):
        with unit_of_work():
            ids.append(create_campaign())
    measured = ids[-1]
    # The ledger: every contact is planned and sent (who may receive it does not matter here:
    # the INSERT ... SELECT of a click reads the consent as it stands at the click).
    db.session.execute(
        db.text(
            """INSERT INTO deliveries (campaign_id, contact_id, status, attempts, smtp_code,
                smtp_message, sent_at, tracking)
            SELECT :c, id, 'sent', 1, 250, '2.0.0 Ok: queued', :at, 3 FROM contacts"""
        ),
        {"c": measured, "at": sent_at},
    )
    db.session.execute(
        db.text("UPDATE campaigns SET status = :s, finished_at = :at"),
        {"s": CampaignStatus.DONE, "at": sent_at + timedelta(hours=1)},
    )
    db.session.commit()
    step = 1_000_000
    for start in range(0, events, step):
        # 7 opens in 10, 1 in 20 a machine's; over 30 days, inside the retention period.
        db.session.execute(
            db.text(
                """INSERT INTO tracking_events (campaign_id, contact_id, kind, link, flags, at)
                SELECT (:first + n % :campaigns), 1 + n % :contacts,
                    CASE WHEN n % 10 < 7 THEN 'o' ELSE 'c' END,
                    CASE WHEN n % 10 < 7 THEN 0 ELSE n % 3 END,
                    CASE WHEN n % 20 = 0 THEN 1 ELSE 0 END,
                    now() - (n % 2592000) * interval '1 second'
                FROM generate_series(:start, :stop) AS n"""
            ),
            {
                "first": ids[0],
                "campaigns": campaigns,
                "contacts": contacts,
                "start": start,
                "stop": min(events, start + step) - 1,
            },
        )
        db.session.commit()
        print(f"  {min(events, start + step):,} events", flush=True)
    db.session.execute(db.text("ANALYZE"))
    db.session.commit()
    # The seed's dirty pages written out now, not by a checkpoint during the measured run.
    db.session.execute(db.text("CHECKPOINT"))
    db.session.commit()
    return measured, sent_at


def write_tokens(path: Path, campaign_id: int, sent_at: datetime, count: int, opens: float) -> None:
    """`count` token paths, each line `g <path>` (its request must write a row) or `w <path>`
    (a contact who withdrew or never consented: it redirects and writes nothing)."""
    granted = set(
        db.session.scalars(
            db.text(
                "SELECT contact_id FROM consent_states WHERE purpose_key = 'promotions' "
                "AND status = 'granted'"
            )
        )
    )
    contacts = db.session.scalar(db.text("SELECT count(*) FROM contacts"))
    secret, sent = token_secret(), int(sent_at.timestamp())
    lines = []
    for n in range(count):
        contact = 1 + (n * 7919) % contacts  # spread over the table, not its first rows
        if (n * 37) % 100 < opens * 100:
            token = make_tracking_token(secret, OPEN, campaign_id, contact, sent, 0, "")
            url = f"/t/o/{token}"
        else:
            link = n % len(DESTINATIONS)
            token = make_tracking_token(
                secret, CLICK, campaign_id, contact, sent, link, DESTINATIONS[link]
            )
            url = f"/t/c/{token}"
        lines.append(f"{'g' if contact in granted else 'w'} {url}\n")
    path.write_text("".join(lines), encoding="ascii")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def procfile_web() -> str:
    """The Procfile's web command, as honcho or foreman would run it."""
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web":
            return command.strip()
    raise SystemExit("the Procfile has no web process")


def start_web(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = procfile_web().replace("0.0.0.0", "127.0.0.1")  # noqa: S104 - not listening on it
    bin_dir = str(Path(sys.executable).parent)
    env = {**env, "PORT": str(port), "PATH": f"{bin_dir}:{env.get('PATH', '')}"}
    print(f"web: {command} (PORT={port}, WEB_CONCURRENCY={env.get('WEB_CONCURRENCY', '')})")
    process = subprocess.Popen(["sh", "-c", f"exec {command}"], env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the web process did not start") from None
            time.sleep(0.2)


def cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each of these processes that is still running."""
    used = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        used[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return used


def gunicorn_pids(master: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat[stat.rindex(")") + 2 :].split()[1]) == master:
            children.append(int(entry.name))
    return [master, *children]


def backend_pids() -> list[int]:
    """This database's PostgreSQL backends (gunicorn's pools), not the shared server's others."""
    pids = db.session.scalars(
        db.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    ).all()
    db.session.commit()
    return list(pids)


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """Between two readings; a process started in between counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def run_wrk(url: str, tokens: Path, args: argparse.Namespace) -> dict[str, float]:
    """wrk with the Lua script; its done() prints `key value` lines, read back here."""
    folder = Path(tempfile.mkdtemp(prefix="notifier-wrk-"))
    command = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}",
        f"-d{max(60, args.requests // 50)}s", "--timeout", "10s", "-s", str(LUA), url,
        "--", str(tokens), str(args.requests), str(args.threads), str(folder),
    ]  # fmt: skip
    print("load:", shlex.join(command))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    # wrk sleeps through its whole -d whatever its threads do; SIGINT ends it with its report
    # once every thread has had its share answered.
    while wrk.poll() is None and len(list(folder.glob("done.*"))) < args.threads:
        time.sleep(0.2)
    wrk.send_signal(signal.SIGINT)
    out = wrk.communicate()[0]
    finished = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = {
        "wrk_cpu": finished.ru_utime + finished.ru_stime - children.ru_utime - children.ru_stime
    }
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key.startswith("bench."):
            figures[key.removeprefix("bench.")] = float(value)
        else:
            print("  wrk:", line)
    if "answered" not in figures:
        # The 14,300,000-request run of 2026-12-07 ended so: wrk's own summary above, but no
        # line from the script's done(). Its figures were then read from that summary and the
        # database (docs/tracking.md); say so instead of failing on a missing key.
        raise SystemExit(
            "wrk printed no summary of the Lua script (bench.* lines): read the rate and latency "
            "from wrk's own lines above, and count the events in the database"
        )
    return figures


def count_events(campaign_id: int) -> dict[str, int]:
    row = db.session.execute(
        db.text(
            """SELECT count(*) FILTER (WHERE kind = 'c'), count(*) FILTER (WHERE kind = 'o'),
                count(*) FILTER (WHERE flags <> 0), (SELECT count(*) FROM tracking_events)
            FROM tracking_events WHERE campaign_id = :c AND at > :since"""
        ),
        {"c": campaign_id, "since": datetime.now(UTC) - timedelta(days=400)},
    ).one()
    db.session.commit()
    return {"clicks": row[0], "opens": row[1], "flagged": row[2], "total": row[3]}


def new_events(campaign_id: int, since: datetime) -> dict[str, int]:
    row = db.session.execute(
        db.text(
            """SELECT count(*) FILTER (WHERE kind = 'c'), count(*) FILTER (WHERE kind = 'o'),
                count(*) FILTER (WHERE flags <> 0), count(*) FILTER (WHERE campaign_id <> :c),
                count(*) FILTER (WHERE kind = 'c' AND link NOT IN (0, 1, 2))
            FROM tracking_events WHERE id > (SELECT :since)"""
        ),
        {"c": campaign_id, "since": since},
    ).one()
    db.session.commit()
    return {
        "clicks": row[0],
        "opens": row[1],
        "flagged": row[2],
        "other_campaign": row[3],
        "bad_link": row[4],
    }


def settled(last_id: int) -> int:
    """The highest event id once gunicorn has written the requests still in flight."""
    while True:
        time.sleep(1)
        now = int(db.session.scalar(db.text("SELECT coalesce(max(id), 0) FROM tracking_events")))
        db.session.commit()
        if now == last_id:
            return now
        last_id = now


def time_pages(campaign_id: int, repeat: int) -> tuple[float, float]:
    """The campaign page's engagement counts and the engagement CSV, median of `repeat` runs,
    in ms, through the use cases the admin views call."""
    access = bench_access()
    page, csv = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        with unit_of_work():
            assert engagement.campaign_engagement(access, campaign_id) is not None
        page.append(time.perf_counter() - started)
        started = time.perf_counter()
        with unit_of_work():
            assert engagement.engagement_csv(access, campaign_id)
        csv.append(time.perf_counter() - started)
    return sorted(page)[len(page) // 2] * 1000, sorted(csv)[len(csv) // 2] * 1000


def fold_all() -> tuple[float, float]:
    """The scheduler's folds until nothing is left, as one a minute from now would find it:
    (seconds, events folded)."""
    started, events = time.perf_counter(), 0
    while True:
        with unit_of_work():
            folded = tallies.fold(datetime.now(UTC) + tallies.FOLD_LAG)
        events += folded
        if not folded:
            return time.perf_counter() - started, float(events)


def time_comparison(count: int, repeat: int) -> tuple[float, float]:
    """The comparison of the last `count` campaigns, median of `repeat`, in ms (and 0)."""
    access, took = bench_access(), []
    for _ in range(repeat):
        started = time.perf_counter()
        with unit_of_work():
            assert comparison.last_campaigns(access, count)
        took.append(time.perf_counter() - started)
    return sorted(took)[len(took) // 2] * 1000, 0.0


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=at_least(1), default=300_000)
    parser.add_argument("--events", type=at_least(0), default=10_000_000, help="seeded first")
    parser.add_argument("--contacts", type=at_least(10), default=200_000)
    parser.add_argument("--campaigns", type=at_least(1), default=10, help="the events' spread")
    parser.add_argument("--tokens", type=at_least(1), default=100_000, help="distinct paths")
    parser.add_argument("--opens", type=float, default=0.5, help="share of pixel requests")
    parser.add_argument("--connections", type=at_least(1), default=32)
    parser.add_argument("--threads", type=at_least(1), default=1, help="wrk's threads")
    parser.add_argument("--web-concurrency", default="", help="WEB_CONCURRENCY; the Procfile's")
    parser.add_argument("--long", action="store_true", help="--requests 14,300,000, no seeding")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_tracking")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database")
    args = parser.parse_args()
    if args.long:
        # 10,000,000 events arrive through the endpoint itself, onto an empty table: 7 tokens
        # in 10 are a consenting person's (the others redirect and write nothing), so
        # 14,300,000 requests write 10,010,000 events.
        args.requests, args.events = 14_300_000, 0
    if not args.database.startswith("postgresql"):
        sys.exit("bench/tracking_redirect.py seeds with generate_series: give a PostgreSQL URL")
    return args


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="notifier-tracking-"))
    secret_file = Path(tempfile.gettempdir()) / "notifier-tracking-bench.secret"
    if not (args.reuse and secret_file.exists()):
        secret_file.write_text(secrets.token_hex(32), encoding="ascii")
    settings = {
        "DATABASE_URL": args.database if args.reuse else fresh_database(args.database, workdir),
        "REDIS_URL": args.redis,
        "SECRET_KEY": secret_file.read_text(encoding="ascii"),
        "PUBLIC_BASE_URL": "https://bench.example",
        "PROFILE": str(tracked_profile(workdir)),
    }
    app = create_app(settings, serving=False)
    prepare_database(app)
    with app.app_context():
        if args.reuse:
            campaign_id = int(db.session.scalar(db.text("SELECT max(id) FROM campaigns")))
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign is not None and campaign.finished_at is not None
            sent_at = campaign.finished_at - timedelta(hours=1)
        else:
            started = time.perf_counter()
            campaign_id, sent_at = seed(args.contacts, args.events, args.campaigns)
            print(f"seeded {args.contacts:,} contacts, {args.events:,} events in "
                  f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        tokens = workdir / "tokens.txt"
        write_tokens(tokens, campaign_id, sent_at, min(args.tokens, args.requests), args.opens)
        before = count_events(campaign_id)
        last_id = settled(0)
        env = {
            **os.environ,
            "NOTIFIER_INSTANCE_PATH": str(workdir / "instance"),
            **{f"NOTIFIER_{key}": value for key, value in settings.items()},
        }
        if args.web_concurrency:
            env["WEB_CONCURRENCY"] = args.web_concurrency
        port = free_port()
        web = start_web(env, port)
        try:
            web_pids = gunicorn_pids(web.pid)
            load_before, web_cpu, pg_cpu = load(), cpu_of(web_pids), cpu_of(backend_pids())
            wrk = run_wrk(f"http://127.0.0.1:{port}", tokens, args)
            cpu = {
                "gunicorn": cpu_used(web_cpu, cpu_of(gunicorn_pids(web.pid))),
                "postgres": cpu_used(pg_cpu, cpu_of(backend_pids())),
                "wrk": wrk["wrk_cpu"],
            }
            load_after = load()
        finally:
            web.terminate()
            web.wait(30)
        settled(last_id)
        made = new_events(campaign_id, last_id)
        after = count_events(campaign_id)
        # Right after the burst nothing is folded yet (no scheduler ran): the page reads the
        # tallies plus every new event; then the scheduler's rounds fold them, and it reads the
        # tallies plus nothing.
        # As autovacuum would have by now (it is off on some machines: `SHOW autovacuum`):
        # with the statistics of the table before the run, the planner reads the campaign's
        # whole index for "the events above the mark".
        db.session.execute(db.text("ANALYZE tracking_events"))
        db.session.commit()
        pages = {"unfolded": time_pages(campaign_id, 3)}
        pages["fold"] = fold_all()
        pages["folded"] = time_pages(campaign_id, 3)
        pages["compare"] = time_comparison(10, 3)
    report(args, wrk, cpu, made, before, after, pages, load_before, load_after)


def report(args, wrk, cpu, made, before, after, pages, load_before, load_after):  # type: ignore[no-untyped-def]
    done = int(wrk["answered"])
    expected = {"clicks": int(wrk["granted_clicks"]), "opens": int(wrk["granted_opens"])}
    exact = (
        made["clicks"] == expected["clicks"]
        and made["opens"] == expected["opens"]
        and not made["flagged"]
        and not made["other_campaign"]
        and not made["bad_link"]
        and not wrk["bad_status"]
        and wrk["answered"] == wrk["issued"] == args.requests
    )
    rate = done / wrk["seconds"]
    print(f"requests: {done:,} answered in {wrk['seconds']:.1f} s ({rate:,.0f} req/s), "
          f"{int(wrk['issued']):,} sent (and {int(wrk['all_requests'] - wrk['answered'])} "
          f"fillers), errors {int(wrk['errors'])}, statuses other than 302/200/404 "
          f"{int(wrk['bad_status'])}")  # fmt: skip
    print(f"latency: p50 {wrk['p50'] / 1000:.1f} ms, p95 {wrk['p95'] / 1000:.1f} ms, "
          f"p99 {wrk['p99'] / 1000:.1f} ms, max {wrk['max'] / 1000:.1f} ms")  # fmt: skip
    per = {name: seconds / max(done, 1) * 1e6 for name, seconds in cpu.items()}
    print("CPU per request: " + ", ".join(f"{name} {us:.0f} µs" for name, us in per.items()))
    print(f"events: {before['total']:,} before, {after['total']:,} after; new clicks "
          f"{made['clicks']:,} (expected {expected['clicks']:,}), opens {made['opens']:,} "
          f"(expected {expected['opens']:,}), flagged {made['flagged']}, "
          f"{'EXACT' if exact else 'MISMATCH'}")  # fmt: skip
    page_ms, csv_ms = pages["folded"]
    tail_ms, tail_csv_ms = pages["unfolded"]
    fold_s, folded = pages["fold"]
    print(f"campaign page engagement, nothing folded yet: {tail_ms:.0f} ms, CSV {tail_csv_ms:.0f} "
          f"ms; the fold: {folded:,.0f} events in {fold_s:.1f} s ({folded / max(fold_s, 1e-9):,.0f}"
          f"/s); after it: page {page_ms:.0f} ms, CSV {csv_ms:.0f} ms; comparison of the last "
          f"10 campaigns {pages['compare'][0]:.0f} ms ({after['clicks'] + after['opens']:,} "
          f"events of this campaign)")  # fmt: skip
    print(f"load average {load_before} before, {load_after} after ({os.cpu_count()} cores)")
    print(
        f"SUMMARY tracking_redirect: {done:,} req at {rate:,.0f} req/s, p50 "
        f"{wrk['p50'] / 1000:.1f} ms p95 {wrk['p95'] / 1000:.1f} ms p99 {wrk['p99'] / 1000:.1f} "
        f"ms, {args.connections} conn, events {after['total']:,} "
        f"{'exact' if exact else 'MISMATCH'}, page {page_ms:.0f} ms CSV {csv_ms:.0f} ms "
        f"(unfolded {tail_ms:.0f} ms), fold {folded / max(fold_s, 1e-9):,.0f} events/s, "
        f"compare 10 {pages['compare'][0]:.0f} ms, "
        f"load {load_before} -> {load_after}"
    )
    if not exact:
        sys.exit(1)


if __name__ == "__main__":
    main()
