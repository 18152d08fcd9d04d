"""API keys as the API's authentication sees them: plain data, never the row itself."""

from __future__ import annotations

from dataclasses import dataclass

from notifier.infra.extensions import db
from notifier.models import ApiKey
from notifier.operations.staff import authenticate_api_key


@dataclass(frozen=True)
class KeyGrant:
    id: int
    scopes: tuple[str, ...]
    revoked: bool


def _grant(key: ApiKey) -> KeyGrant:
    return KeyGrant(key.id, tuple(key.scopes or ()), key.revoked_at is not None)


def grant_by_id(key_id: int) -> KeyGrant | None:
    """Read on every request, so a revocation takes effect at once."""
    key = db.session.get(ApiKey, key_id)
    return _grant(key) if key is not None else None


def verify(token: str) -> KeyGrant | None:
    """The key this token proves (argon2), whatever its scopes; None for anything else."""
    parts = token.split("_", 2)
    if len(parts) != 3 or not parts[1].isalnum():
        return None
    row = db.session.scalar(db.select(ApiKey).where(ApiKey.prefix == parts[1]))
    if row is None or not row.scopes:
        return None
    # The service checks hash, revocation and scope; ask with a scope the key has, so a
    # genuine key lacking an operation's scope can be told apart (403, not 401).
    key = authenticate_api_key(token, row.scopes[0])
    return _grant(key) if key is not None else None
