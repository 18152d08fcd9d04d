"""Fixtures of the relay tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from flask import Flask

from notifier.delivery import relays
from notifier.infra.queues import redis_connection


@pytest.fixture
def conn(app: Flask) -> Iterator[redis.Redis]:
    """The app's Redis without any relay or group state or relay metric."""
    with app.app_context():
        connection = redis_connection()
        for pattern in (relays.PREFIX + "*", relays.SENT_KEY, relays.DEFERRED_KEY):
            for key in connection.scan_iter(pattern):
                connection.delete(key)
        yield connection
