"""A notice made ahead with a send_at is enqueued by the `notifier scheduler` process at its
moment, not at the next round (seconds later), and not while other notice jobs are queued.
Real time: the scheduler is a process of its own and reads the real clock."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from rq.job import Job
from rq.serializers import JSONSerializer

from notifier.infra.queues import NOTICES, queue
from notifier.models import utcnow
from notifier.notices import notices
from tests.integration.helpers import committed, layout_template, make_contact, sample_data
from tests.integration.workers import worker_env

# Timed against the real clock: run on its own, in the `slow` step (Makefile).
pytestmark = pytest.mark.slow
AHEAD = timedelta(seconds=8)  # the scheduler process starts and plans in time on a busy machine


def _notice_jobs() -> list[int]:
    """The notice ids the queued send jobs are for."""
    found = []
    for job_id in queue(NOTICES).get_job_ids():
        job = Job.fetch(job_id, connection=queue(NOTICES).connection, serializer=JSONSerializer)
        found += notices.notice_ids_of(job) or []
    return found


def test_a_notice_due_between_two_rounds_is_enqueued_at_its_moment(
    app: Flask, tmp_path: Path
) -> None:
    notices.define_notice_type(
        "renewal", "Gia hạn", "renewal", layout_template("renewal", "renewal")
    )
    contact_id = make_contact("renew@example.org", name="Công ty Hoa Lan")
    body = sample_data("renewal")
    send_at = utcnow() + AHEAD
    with committed():
        notice = notices.trigger(
            "renewal", contact_id, body, "inv-1", notices.request_fingerprint(body), send_at
        ).notice
    # Another notice's job waits in the queue: the round's reconcile enqueues nothing then.
    queue(NOTICES).enqueue(notices.SEND_NOTICE_JOB, 0)
    command = [str(Path(sys.executable).with_name("notifier")), "scheduler", "--interval", "60"]
    scheduler = subprocess.Popen(
        command, env=worker_env(app, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        while notice.id not in _notice_jobs():
            assert utcnow() < send_at + timedelta(seconds=1), "not enqueued at its moment"
            assert scheduler.poll() is None, scheduler.stdout.read().decode()[-2000:]  # type: ignore[union-attr]
            time.sleep(0.02)
        enqueued_at = utcnow()
    finally:
        scheduler.terminate()
        scheduler.wait(30)
    assert enqueued_at >= send_at, "not before its moment: a claim would refuse the early job"
    assert _notice_jobs().count(notice.id) == 1
