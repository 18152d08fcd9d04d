"""Staff accounts and API keys: secrets are shown once and stored only as argon2 hashes."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from notifier.domain.addresses import InvalidAddress, normalise_email
from notifier.domain.errors import Conflict, ValidationFailed
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.hashing import generate_password, hash_secret, verify_secret
from notifier.models import ApiKey, StaffUser
from notifier.models.types import utcnow

API_SCOPES = frozenset(
    {"notices", "contacts", "campaigns", "templates", "subscriptions", "webhooks"}
)


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    plaintext: str


def create_staff(
    email: str, role: str, name: str = "", password: str | None = None
) -> tuple[StaffUser, str]:
    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        raise ValidationFailed({"email": str(exc)}) from None
    roles = [r.key for r in profile().roles]
    if role not in roles:
        raise ValidationFailed({"role": f"unknown role {role!r}; one of {', '.join(roles)}"})
    if db.session.scalar(db.select(StaffUser).where(StaffUser.email == address)):
        raise Conflict(f"a staff member {address} exists already")
    password = password or generate_password()
    user = StaffUser(email=address, role=role, name=name, password_hash=hash_secret(password))
    db.session.add(user)
    db.session.flush()
    return user, password


def create_api_key(name: str, scopes: list[str]) -> IssuedKey:
    unknown = sorted(set(scopes) - API_SCOPES)
    if not name.strip():
        raise ValidationFailed({"name": "is required"})
    if unknown or not scopes:
        raise ValidationFailed(
            {"scope": f"choose from {', '.join(sorted(API_SCOPES))} (got {', '.join(unknown)})"}
        )
    prefix = secrets.token_hex(6)
    plaintext = f"ntf_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(name=name.strip(), prefix=prefix, key_hash=hash_secret(plaintext), scopes=scopes)
    db.session.add(key)
    db.session.flush()
    return IssuedKey(key, plaintext)


def authenticate_api_key(plaintext: str, scope: str) -> ApiKey | None:
    """None for a wrong, unknown, revoked or out-of-scope key: callers answer 401 alike."""
    parts = plaintext.split("_", 2)  # the secret part may itself contain "_"
    if len(parts) != 3 or parts[0] != "ntf":
        return None
    key = db.session.scalar(db.select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or key.revoked_at is not None or not verify_secret(key.key_hash, plaintext):
        return None
    if scope not in key.scopes:
        return None
    key.last_used_at = utcnow()
    db.session.flush()
    return key


def api_keys() -> Sequence[ApiKey]:
    return db.session.scalars(db.select(ApiKey).order_by(ApiKey.id.desc())).all()


def staff_accounts() -> Sequence[StaffUser]:
    return db.session.scalars(db.select(StaffUser).order_by(StaffUser.email)).all()


def revoke_api_key(key_id: int) -> None:
    key = db.session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.flush()
