"""The scheduler's probe of the relays marked down (docs/relays.md, "Failover and the probe").

A relay that failed a batch is marked down in Redis for RELAY_PROBE_SECONDS. Without a probe it
came back only when a batch drew it after the mark ended, and that batch paid for the attempt
(up to the url's timeout) before failing over. Each scheduler round asks Redis once which relays
are marked down (and nothing at all when RELAYS is empty), and opens an SMTP session to each:
the opening a batch makes (connect, EHLO, STARTTLS and AUTH when the url asks for them), then
NOOP and QUIT; never a message. A relay that answers 250 to NOOP has its mark cleared and carries
mail at once; any other answer, or none within the timeout, marks it down for another interval.

The probes of one round run at once, a thread each, at most PER_ROUND of them (the marks ending
soonest first; one that fails is marked again, so a later round takes the others): a round with
relays down costs about one probe's time, not the sum of them.
"""

from __future__ import annotations

import logging
import smtplib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from notifier.delivery import relays
from notifier.domain.relays import Relay
from notifier.infra.queues import redis_connection
from notifier.mail.smtp import SmtpConfig, Transport, TransportError

log = logging.getLogger(__name__)
# Each socket wait of a probe, in seconds (the url's own timeout when shorter): a probe that
# stalls delays the scheduler's round, and a relay slower than this would time a batch out too.
TIMEOUT = 3.0
PER_ROUND = 8


def probe_down_relays(now: datetime) -> int:
    """One scheduler round: probe the relays marked down; returns how many are back."""
    if not relays.relays():
        return 0  # SMTP_URL alone: no Redis call, nothing to probe
    conn = redis_connection()
    marks = relays.down_marks(conn)[:PER_ROUND]
    if not marks:
        return 0
    with ThreadPoolExecutor(len(marks), thread_name_prefix="relay-probe") as pool:
        verdicts = list(pool.map(lambda mark: refusal(mark.relay), marks))
    back = 0
    for mark, why in zip(marks, verdicts, strict=True):
        if why is not None:
            relays.mark_down(conn, mark.relay)
            log.info("relay %s still down: %s", mark.relay.name, why[:200])
        elif relays.clear_mark(conn, mark):
            back += 1
            log.warning("relay %s answers again: back in service", mark.relay.name)
        # else a batch marked it down again while it was probed: that newer verdict stands
    return back


def refusal(relay: Relay) -> str | None:
    """None when the relay opens a session and answers 250 to NOOP, else why not.

    The reason names the host and port, never the url: it may hold a password."""
    config = SmtpConfig.from_url(relay.url)
    transport = Transport(replace(config, timeout=min(config.timeout, TIMEOUT)))
    try:
        session = transport.session()
    except TransportError as exc:
        return str(exc)
    try:
        code, reply = session.noop()
    except (smtplib.SMTPException, OSError) as exc:
        transport.discard()
        return f"NOOP to {config.host}:{config.port}: {type(exc).__name__}: {exc}"
    transport.close()  # QUIT
    if code != 250:
        return f"NOOP to {config.host}:{config.port}: {code} {reply.decode('utf-8', 'replace')}"
    return None
