"""`notifier settings`: check the settings this machine would start with, or print the defaults."""

from __future__ import annotations

import click

from notifier.infra.settings import defaults_toml


@click.group("settings")
def settings_group() -> None:
    """Settings (config/settings.toml, NOTIFIER_SETTINGS, the environment)."""


@settings_group.command("check")
def settings_check() -> None:
    """Build the settings as start-up does; print them (secrets hidden) or the first problem."""
    from notifier.cli import _create_app
    from notifier.infra.settings import settings_of

    click.echo(repr(settings_of(_create_app())))


@settings_group.command("defaults")
def settings_defaults() -> None:
    """Print config/settings.toml as the model defines it."""
    click.echo(defaults_toml(), nl=False)
