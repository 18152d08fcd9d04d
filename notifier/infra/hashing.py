"""Password and key hashing (argon2id) and the salted address hash of the suppression list."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_secret(plain: str) -> str:
    return _hasher.hash(plain)


def verify_secret(stored_hash: str, plain: str) -> bool:
    try:
        return _hasher.verify(stored_hash, plain)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def address_hash(salt: str | bytes, normalised_email: str) -> str:
    """Keyed, so a leaked suppression list cannot be reversed with a dictionary of addresses."""
    key = salt.encode() if isinstance(salt, str) else salt
    return hmac.new(key, normalised_email.lower().encode("utf-8"), hashlib.sha256).hexdigest()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
