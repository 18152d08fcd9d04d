"""Staff sign-in: Flask-Login sessions, CSRF on every form, argon2, lockout and a rate limit."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from notifier.domain.errors import NotFound, ValidationFailed
from notifier.domain.profile import LOCALES
from notifier.infra.extensions import db
from notifier.infra.hashing import hash_secret, verify_secret
from notifier.infra.queues import redis_connection
from notifier.models import StaffUser
from notifier.models.types import utcnow

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
# Per address: one client guessing across many accounts never trips any single account's lockout.
MAX_FAILURES_PER_IP = 20
IP_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 12

login_manager = LoginManager()
csrf = CSRFProtect()


class LockedOut(Exception):
    def __init__(self, minutes: int) -> None:
        super().__init__(f"locked for {minutes} minutes")
        self.minutes = minutes


def init_auth(app: Flask) -> None:
    https = str(app.config.get("PUBLIC_BASE_URL", "")).startswith("https://")
    # Secure cookies wherever the site is served over https; a plain-http embedded install on
    # 127.0.0.1 would otherwise never get its session cookie back.
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        app.config[name] = bool(app.config.get(name)) or https
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=8))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    from notifier.web import admin

    app.register_blueprint(admin.bp)


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    return db.session.get(StaffUser, int(user_id))


def _ip_key(ip: str) -> str:
    return f"notifier:login-failures:{ip}"


def ip_blocked_minutes(ip: str | None) -> int:
    """Minutes until this address may try again, 0 when it may try now."""
    if not ip:
        return 0
    conn = redis_connection()
    failures = int(conn.get(_ip_key(ip)) or 0)
    if failures < MAX_FAILURES_PER_IP:
        return 0
    return max(1, int(conn.ttl(_ip_key(ip))) // 60 + 1)


def _count_ip_failure(ip: str | None) -> None:
    if not ip:
        return
    conn = redis_connection()
    with conn.pipeline() as pipe:
        # The window starts at the first failure (SET NX keeps it; old servers lack EXPIRE NX).
        pipe.set(_ip_key(ip), 0, ex=int(IP_WINDOW.total_seconds()), nx=True)
        pipe.incr(_ip_key(ip))
        pipe.execute()


def check_login(email: str, password: str, ip: str | None = None) -> StaffUser | None:
    """A wrong password counts toward the lockout; a locked account says so, even if right."""
    blocked = ip_blocked_minutes(ip)
    if blocked:
        raise LockedOut(blocked)
    user = db.session.scalar(db.select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None or not user.active:
        verify_secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + "A" * 43, password)
        _count_ip_failure(ip)
        return None
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        raise LockedOut(int((user.locked_until - now).total_seconds() // 60) + 1)
    if not verify_secret(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
        db.session.commit()
        _count_ip_failure(ip)
        return None
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    db.session.commit()
    return user


def change_password(user_id: int, current: str, new: str, repeated: str) -> None:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"staff {user_id}")
    errors = {}
    if not verify_secret(user.password_hash, current):
        errors["current"] = "wrong_password"
    if len(new) < MIN_PASSWORD or len(new) > 200:
        errors["new"] = "password_length"
    elif new.strip().lower() == user.email or new == current:
        errors["new"] = "password_weak"
    if new != repeated:
        errors["repeated"] = "password_mismatch"
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = hash_secret(new)
    db.session.commit()


def set_locale(user_id: int, locale: str) -> None:
    if locale not in LOCALES:
        raise ValidationFailed({"locale": f"one of {', '.join(LOCALES)}"})
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"staff {user_id}")
    user.locale = locale
    db.session.commit()


def set_active(user_id: int, active: bool, by_staff_id: int) -> StaffUser:
    """Deactivate or reactivate an account; nobody locks themselves out by accident."""
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"staff {user_id}")
    if user.id == by_staff_id and not active:
        raise ValidationFailed({"active": "you cannot deactivate your own account"})
    user.active = active
    db.session.commit()
    return user
