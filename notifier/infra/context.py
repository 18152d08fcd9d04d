"""The active profile and settings, read from the current Flask app."""

from __future__ import annotations

from flask import current_app

from notifier.domain.profile import Profile


def profile() -> Profile:
    return current_app.extensions["notifier.profile"]


def suppression_salt() -> str:
    return str(current_app.config.get("SUPPRESSION_SALT") or current_app.config["SECRET_KEY"])


def token_secret() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode()
