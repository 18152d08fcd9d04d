"""Bearer API keys: 401 alike for a missing, wrong or revoked key, 403 for a missing scope."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from notifier.api.problems import ApiProblem
from notifier.contacts.api_contacts import retrying
from notifier.operations import api_keys
from notifier.operations.api_keys import KeyGrant

F = TypeVar("F", bound=Callable[..., Any])
MAX_KEY_LENGTH = 200
# argon2 costs ~50 ms per check, so a verified key is remembered (by its SHA-256) for a while;
# revocation still takes effect at once because the row is read on every request.
_VERIFIED_TTL = 300.0
_VERIFIED_SIZE = 1024
_verified: OrderedDict[str, tuple[int, float]] = OrderedDict()
_STRIPES = [threading.Lock() for _ in range(64)]


def require(scope: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = _authenticate(scope)
            g.api_key_id = key.id
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _unauthorized() -> ApiProblem:
    return ApiProblem(401, "a valid API key is required", headers={"WWW-Authenticate": "Bearer"})


def _authenticate(scope: str) -> KeyGrant:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_KEY_LENGTH:
        raise _unauthorized()
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    key = _remembered(digest)
    if key is None:
        # Concurrent first uses of one key wait for a single argon2 check, then hit the cache.
        with _STRIPES[int(digest[:8], 16) % len(_STRIPES)]:
            key = _remembered(digest) or _verify(token, digest)
    if key is None or key.revoked:
        raise _unauthorized()
    if scope not in key.scopes:
        raise ApiProblem(403, f"this API key does not have the {scope!r} scope")
    return key


def _remembered(digest: str) -> KeyGrant | None:
    entry = _verified.get(digest)
    if entry is None or entry[1] < time.monotonic():
        _verified.pop(digest, None)
        return None
    return api_keys.grant_by_id(entry[0])


def _verify(token: str, digest: str) -> KeyGrant | None:
    key = retrying(lambda: api_keys.verify(token))
    if key is not None:
        _verified[digest] = (key.id, time.monotonic() + _VERIFIED_TTL)
        while len(_verified) > _VERIFIED_SIZE:
            _verified.popitem(last=False)
    return key


CONTACTS_SCOPE = "contacts"


def current_scopes() -> tuple[str, ...]:
    """The scopes of the key this request was authenticated with (inside a `require`d view)."""
    grant = api_keys.grant_by_id(g.api_key_id)
    return grant.scopes if grant is not None else ()
