"""Bring a database to the current schema and profile: used by setup, dev and tests."""

from __future__ import annotations

from flask import Flask
from flask_migrate import upgrade

from notifier.contacts.purposes import sync_purposes
from notifier.infra.context import profile
from notifier.infra.unit_of_work import unit_of_work
from notifier.notices.types import sync_notice_types


def prepare_database(app: Flask) -> None:
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        with unit_of_work():
            sync_purposes(profile())
            sync_notice_types(profile())
