"""Prometheus metrics that hold across any number of worker machines.

Counts come from the database (the source of truth) and Redis at scrape time, so nothing is lost
when a worker restarts; send latency is aggregated in Redis by the workers, one pipelined call per
flushed group of messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import func, select

from notifier.infra.extensions import db
from notifier.infra.queues import PRIORITY, queue
from notifier.models import Campaign, CampaignStatus, Delivery, Notice

LATENCY_KEY = "notifier:metrics:send_latency"
# Counted by the send path once a batch when RELAYS names several relays (docs/relays.md).
RELAY_SENT_KEY = "notifier:metrics:relay_sent"  # relay -> messages sent
RELAY_DEFERRED_KEY = "notifier:metrics:relay_deferred"  # "throttled:<relay>" -> rows deferred
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def record_latencies(conn: redis.Redis, seconds: Sequence[float]) -> None:
    """Add SMTP send durations to the shared histogram (cumulative buckets, like Prometheus)."""
    if not seconds:
        return
    pipe = conn.pipeline(transaction=False)
    for bound in BUCKETS:
        count = sum(1 for value in seconds if value <= bound)
        if count:
            pipe.hincrby(LATENCY_KEY, f"le:{bound}", count)
    pipe.hincrby(LATENCY_KEY, "count", len(seconds))
    pipe.hincrbyfloat(LATENCY_KEY, "sum", sum(seconds))
    pipe.execute()


class NotifierCollector:
    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn

    def collect(self) -> Iterator[Metric]:
        yield self._deliveries()
        yield self._notices()
        yield self._queues()
        yield self._campaigns()
        yield self._latency()
        yield from self._relays()

    def _deliveries(self) -> Metric:
        return _by_status_and_reason(
            Delivery, "notifier_deliveries", "Campaign deliveries by outcome and reason"
        )

    def _notices(self) -> Metric:
        return _by_status_and_reason(
            Notice, "notifier_notices", "Transactional notices by status and reason"
        )

    def _queues(self) -> Metric:
        family = GaugeMetricFamily(
            "notifier_queue_depth", "Jobs waiting per queue", labels=["queue"]
        )
        for name in PRIORITY:
            family.add_metric([name], queue(name).count)
        return family

    def _campaigns(self) -> Metric:
        family = GaugeMetricFamily(
            "notifier_campaign_progress",
            "Deliveries of campaigns now sending, by status",
            labels=["campaign", "status"],
        )
        rows = db.session.execute(
            select(Delivery.campaign_id, Delivery.status, func.count())
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Campaign.status.in_([CampaignStatus.SENDING, CampaignStatus.PAUSED]))
            .group_by(Delivery.campaign_id, Delivery.status)
        )
        for campaign_id, status, count in rows:
            family.add_metric([str(campaign_id), status], count)
        return family

    def _latency(self) -> Metric:
        raw = {_text(k): _text(v) for k, v in self.conn.hgetall(LATENCY_KEY).items()}
        buckets = [(str(bound), float(raw.get(f"le:{bound}", 0))) for bound in BUCKETS]
        buckets.append(("+Inf", float(raw.get("count", 0))))
        family = HistogramMetricFamily(
            "notifier_send_seconds", "Time from SMTP MAIL to the relay's reply, per message"
        )
        family.add_metric([], buckets, sum_value=float(raw.get("sum", 0)))
        return family

    def _relays(self) -> Iterator[Metric]:
        sent = CounterMetricFamily(
            "notifier_relay_sent", "Messages sent per relay (RELAYS)", labels=["relay"]
        )
        for relay, count in sorted(self.conn.hgetall(RELAY_SENT_KEY).items()):
            sent.add_metric([_text(relay)], float(count))
        deferred = CounterMetricFamily(
            "notifier_relay_deferred",
            "Rows deferred unsent, by reason (throttled, relay_down, warmup) and relay",
            labels=["reason", "relay"],
        )
        for key, count in sorted(self.conn.hgetall(RELAY_DEFERRED_KEY).items()):
            reason, _, relay = _text(key).partition(":")
            deferred.add_metric([reason, relay], float(count))
        yield sent
        yield deferred


def _by_status_and_reason(model: type[Delivery] | type[Notice], name: str, text: str) -> Metric:
    family = GaugeMetricFamily(name, text, labels=["status", "reason"])
    rows = db.session.execute(
        select(model.status, model.reason, func.count()).group_by(model.status, model.reason)
    )
    for status, reason, count in rows:
        family.add_metric([status, reason or ""], count)
    return family


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def render(conn: redis.Redis) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NotifierCollector(conn))
    return generate_latest(registry)
