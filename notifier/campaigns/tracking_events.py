"""Recording one open or click (docs/tracking.md): one INSERT ... SELECT, committed on its own, on
a connection the web process keeps for these events alone.

The statement writes nothing for a person erased or restricted since the mail left, one who no
longer consents to the campaign's purpose, or a deleted campaign: no lookup before it. The token
carries the campaign, the contact, the send time and the destination.

Why not the request's session: its checkout (a ping), BEGIN, the ORM's statement building,
COMMIT and the reset on return cost four round trips more and about 2 ms of CPU per event,
which kept the redirect benchmark (bench/tracking_redirect.py) far below 2,000 requests/s on
two cores. Here an event is one round trip of a statement PostgreSQL has prepared.

Why `synchronous_commit = off` on that connection (PostgreSQL), and on no other: the event is
committed and visible at once, but its WAL reaches the disk up to about 0.6 s later (three
`wal_writer_delay`s) instead of before the answer. A PostgreSQL crash can lose the events of
that last fraction of a second, never half an event and never out of order; the ledger of sends,
the consents and everything else the web process writes keep their synchronous commit on their
own connections.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, Integer, String, bindparam, exists, insert, select
from sqlalchemy.exc import DBAPIError

from notifier.domain.consent_rules import ConsentStatus
from notifier.domain.tokens import CLICK, OPEN, InvalidToken, TrackingClaims, read_tracking_token
from notifier.domain.tracking import classify
from notifier.infra.settings import Settings
from notifier.models import Campaign, ConsentState, Contact
from notifier.models.tracking import TrackingEvent
from notifier.models.types import UTCDateTime

log = logging.getLogger(__name__)

# Built once: the same SQL text each time, which psycopg prepares after its fifth run.
EVENT = insert(TrackingEvent).from_select(
    ["campaign_id", "contact_id", "kind", "link", "flags", "at"],
    select(
        bindparam("campaign", type_=Integer()),
        Contact.id,
        bindparam("kind", type_=String()),
        bindparam("link", type_=Integer()),
        bindparam("flags", type_=Integer()),
        bindparam("at", type_=UTCDateTime()),
    ).where(
        Contact.id == bindparam("contact", type_=Integer()),
        Contact.erased_at.is_(None),
        Contact.restricted_at.is_(None),
        # Only while the person's consent to the campaign's purpose stands: after a withdrawal
        # their old links still lead where they did, but nothing more is recorded.
        exists().where(
            Campaign.id == bindparam("campaign", type_=Integer()),
            ConsentState.contact_id == Contact.id,
            ConsentState.purpose_key == Campaign.purpose_key,
            ConsentState.status == ConsentStatus.GRANTED,
        ),
    ),
)


class Recorder:
    """The tracking endpoints' use cases, one per web process (app); each thread opens its own
    connection at its first event, after gunicorn has forked."""

    def __init__(self, engine: Engine, settings: Callable[[], Settings]) -> None:
        # The settings are read at each event: the app's may be replaced after start-up.
        self.engine, self.settings = engine, settings
        self._local = threading.local()

    def click(
        self, token: str, user_agent: str | None, address: str | None, now: datetime
    ) -> str | None:
        """Record a click and return the destination fixed at send time; None for any token
        that is not genuine (never a redirect to a URL someone else chose)."""
        try:
            claims = read_tracking_token(self.settings().SECRET_KEY.encode(), token, CLICK)
        except InvalidToken:
            return None
        self.record(claims, user_agent, address, now)
        return claims.url

    def open_(self, token: str, user_agent: str | None, address: str | None, now: datetime) -> None:
        """Record an open of a genuine pixel token; anything else records nothing."""
        try:
            claims = read_tracking_token(self.settings().SECRET_KEY.encode(), token, OPEN)
        except InvalidToken:
            return
        self.record(claims, user_agent, address, now)

    def record(
        self, claims: TrackingClaims, user_agent: str | None, address: str | None, now: datetime
    ) -> None:
        flags = classify(
            claims.kind, user_agent, address, claims.sent_at, int(now.timestamp()),
            self.settings().TRACKING_PREFETCH_SECONDS,
        )  # fmt: skip
        values = {
            "campaign": claims.campaign_id,
            "contact": claims.contact_id,
            "kind": claims.kind,
            "link": claims.link,
            "flags": flags,
            "at": now,
        }
        try:
            self._insert(values)
        except DBAPIError as exc:
            # The person still reaches the destination fixed at send time: a database that is
            # down costs this one event (an analytics count), never the redirect.
            log.warning("tracking event not recorded (%s): %s", claims.kind, exc.orig)
            self.close()

    def _insert(self, values: dict[str, object]) -> None:
        try:
            self.connection().execute(EVENT, values)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The server restarted since the last event: once more on a new connection.
            self.close()
            self.connection().execute(EVENT, values)

    def connection(self) -> Connection:
        """This thread's connection for events, opened at its first use."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.invalidated or connection.closed:
            # Each statement commits on its own: the INSERT is the whole unit of work.
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            # Out of the pool for good: its setting below must never reach another use, and
            # closing it (or a server restart) really closes it.
            connection.detach()
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET synchronous_commit = off")
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
