"""`notifier settings`: check the settings this machine would start with, or print the defaults."""

from __future__ import annotations

import click
from flask import Flask

from notifier.app import create_app
from notifier.domain.profile import ProfileError
from notifier.infra.config import ConfigError
from notifier.infra.settings import defaults_toml


@click.group("settings")
def settings_group() -> None:
    """Settings (config/settings.toml, NOTIFIER_SETTINGS, the environment)."""


@settings_group.command("check")
def settings_check() -> None:
    """Build the settings as start-up does; print them (secrets hidden) or the first problem."""
    from notifier.infra.settings import settings_of

    click.echo(repr(settings_of(create_app_or_exit())))


@settings_group.command("defaults")
def settings_defaults() -> None:
    """Print config/settings.toml as the model defines it."""
    click.echo(defaults_toml(), nl=False)


def create_app_or_exit() -> Flask:
    """The app, or a one-line error that names the bad setting (no traceback). No command
    serves pages (`notifier web` starts gunicorn, which makes its own app), so none has the
    blueprints."""
    try:
        return create_app(serving=False)
    except (ProfileError, ConfigError) as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
