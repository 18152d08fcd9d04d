"""Staff sessions on the web: Flask-Login, CSRF on every form, secure cookies, the admin pages."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from notifier.infra.extensions import csrf, login_manager
from notifier.infra.settings import settings_of
from notifier.operations.sign_in import load_staff


def init_auth(app: Flask) -> None:
    https = settings_of(app).PUBLIC_BASE_URL.startswith("https://")
    # Secure cookies wherever the site is served over https; a plain-http embedded install on
    # 127.0.0.1 would otherwise never get its session cookie back.
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        app.config[name] = https
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=8))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_staff)
    csrf.init_app(app)
    from notifier.web import admin

    app.register_blueprint(admin.bp)
