"""The active profile and settings of the current Flask app: the one place services get them."""

from __future__ import annotations

from flask import current_app

from notifier.domain.profile import Profile
from notifier.infra.settings import Settings, settings_of


def profile() -> Profile:
    return current_app.extensions["notifier.profile"]


def settings() -> Settings:
    return settings_of(current_app)


def public_base_url() -> str:
    """PUBLIC_BASE_URL without a trailing slash, ready for a path to be appended."""
    return settings().PUBLIC_BASE_URL.rstrip("/")


def suppression_salt() -> str:
    return settings().SUPPRESSION_SALT or settings().SECRET_KEY


def token_secret() -> bytes:
    return settings().SECRET_KEY.encode()
