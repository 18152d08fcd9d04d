"""Staff sign-in: argon2 passwords, per-account lockout and a per-address rate limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from notifier.domain.errors import NotFound, ValidationFailed
from notifier.domain.profile import LOCALES
from notifier.infra.context import profile
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


class LockedOut(Exception):
    def __init__(self, minutes: int) -> None:
        super().__init__(f"locked for {minutes} minutes")
        self.minutes = minutes


class Step(StrEnum):
    """What a staff member whose password was right must do before the pages open."""

    SIGNED_IN = "signed_in"
    CODE = "code"  # enrolled: a TOTP or recovery code
    ENROL = "enrol"  # the role requires a second factor and none is set up yet


def next_step(user: StaffUser) -> Step:
    if user.totp_enrolled_at is not None:
        return Step.CODE
    return Step.ENROL if role_requires_two_factor(user.role) else Step.SIGNED_IN


def role_requires_two_factor(role: str) -> bool:
    try:
        return profile().role(role).require_two_factor
    except KeyError:
        # A role the profile no longer defines: fail closed.
        return True


def second_factor_epoch(user: StaffUser) -> int:
    """Changes whenever the second factor does (enrolled, reset), ending older sessions."""
    enrolled = user.totp_enrolled_at
    return int(enrolled.timestamp()) if enrolled is not None else 0


def load_staff(user_id: str) -> StaffUser | None:
    """The signed-in staff member of a session (Flask-Login's user loader)."""
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
    refuse_if_locked(user, now)
    if not verify_secret(user.password_hash, password):
        count_failure(user, ip, now)
        db.session.flush()
        return None
    # With a second factor to come, the failures so far stand: otherwise the password alone
    # would reset the count and give unlimited guesses at the code.
    if next_step(user) is Step.SIGNED_IN:
        finish_sign_in(user, now)
        db.session.flush()
    return user


def refuse_if_locked(user: StaffUser, now: datetime) -> None:
    if user.locked_until and user.locked_until > now:
        raise LockedOut(int((user.locked_until - now).total_seconds() // 60) + 1)


def count_failure(user: StaffUser, ip: str | None, now: datetime) -> None:
    """A wrong password or a wrong code: toward the account's lockout and the address's limit."""
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until, user.failed_logins = now + LOCKOUT, 0
    _count_ip_failure(ip)


def finish_sign_in(user: StaffUser, now: datetime) -> None:
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now


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
    db.session.flush()


def set_locale(user_id: int, locale: str) -> None:
    if locale not in LOCALES:
        raise ValidationFailed({"locale": f"one of {', '.join(LOCALES)}"})
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"staff {user_id}")
    user.locale = locale
    db.session.flush()


def set_active(user_id: int, active: bool, by_staff_id: int) -> StaffUser:
    """Deactivate or reactivate an account; nobody locks themselves out by accident."""
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"staff {user_id}")
    if user.id == by_staff_id and not active:
        raise ValidationFailed({"active": "you cannot deactivate your own account"})
    user.active = active
    db.session.flush()
    return user
