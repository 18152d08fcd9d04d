"""Staff two-factor sign-in: TOTP enrolment, codes at sign-in, one-time recovery codes, reset.

Each function is one unit of work and commits once; every step is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update

from notifier.domain.errors import Conflict, NotFound, RecordedRefusal, ValidationFailed
from notifier.domain.second_factor import (
    accepted_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery_code,
    provisioning_uri,
)
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.hashing import hash_secret, verify_secret
from notifier.models import StaffUser
from notifier.models.staff import RecoveryCode
from notifier.operations import audit
from notifier.operations.sign_in import (
    LockedOut,
    count_failure,
    finish_sign_in,
    ip_blocked_minutes,
    refuse_if_locked,
)


class WrongCode(RecordedRefusal):
    """The code was wrong, malformed or already used. The failure's count and audit row stand:
    the unit of work commits them before passing the error on."""


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str  # otpauth://, what the QR code holds


def start_enrolment(staff_id: int) -> Enrolment:
    """The secret to scan; the same one until enrolment completes, so a reload shows one QR."""
    user = _staff(staff_id)
    if user.totp_enrolled_at is not None:
        raise Conflict(f"staff {staff_id} has enrolled already")
    if not user.totp_secret:
        user.totp_secret = new_secret()
        db.session.flush()
    return Enrolment(user.totp_secret, provisioning_uri(user.totp_secret, user.email, _issuer()))


def confirm_enrolment(staff_id: int, code: str, ip: str | None, now: datetime) -> list[str]:
    """A first correct code turns the factor on; returns the recovery codes, shown once."""
    user = _staff(staff_id)
    if user.totp_enrolled_at is not None or not user.totp_secret:
        raise Conflict(f"staff {staff_id} has no enrolment in progress")
    refuse_if_locked(user, now)
    step = accepted_step(user.totp_secret, code, now, None)
    if step is None:
        # A typo against a secret just shown is no attack: the lockout is for sign-in codes.
        raise WrongCode
    user.totp_enrolled_at, user.totp_last_step = now, step
    codes = _replace_recovery_codes(user)
    finish_sign_in(user, now)
    audit.record(_actor(user.id), "2fa.enrolled", "staff", user.id, ip=ip)
    db.session.flush()
    return codes


def verify_code(staff_id: int, code: str, ip: str | None, now: datetime) -> StaffUser:
    """A TOTP code or a recovery code completes the sign-in; anything else counts as a failure."""
    blocked = ip_blocked_minutes(ip)
    if blocked:
        raise LockedOut(blocked)
    user = _staff(staff_id)
    if user.totp_enrolled_at is None or not user.totp_secret:
        raise Conflict(f"staff {staff_id} has not enrolled")
    refuse_if_locked(user, now)
    step = accepted_step(user.totp_secret, code, now, user.totp_last_step)
    if step is not None and _claim_step(user, step):
        audit.record(_actor(user.id), "2fa.code_accepted", "staff", user.id, ip=ip)
    elif _use_recovery_code(user, code, now):
        left = _unused_codes(user.id)
        audit.record(_actor(user.id), "2fa.recovery_used", "staff", user.id, {"left": left}, ip=ip)
    else:
        count_failure(user, ip, now)
        audit.record(_actor(user.id), "2fa.code_refused", "staff", user.id, ip=ip)
        db.session.flush()
        raise WrongCode
    finish_sign_in(user, now)
    db.session.flush()
    return user


def reset(staff_id: int, by_staff_id: int, ip: str | None) -> StaffUser:
    """For a lost phone: the account enrols again at its next sign-in; its sessions end."""
    if staff_id == by_staff_id:
        # Signed in with the factor already; resetting it would only downgrade the account.
        raise ValidationFailed({"two_factor": "two_factor_self_reset"})
    user = _staff(staff_id)
    user.totp_secret = user.totp_enrolled_at = user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == user.id))
    audit.record(_actor(by_staff_id), "2fa.reset", "staff", user.id, ip=ip)
    db.session.flush()
    return user


def _claim_step(user: StaffUser, step: int) -> bool:
    """Conditional, so two requests racing with the same code cannot both get in."""
    claimed = db.session.execute(
        update(StaffUser)
        .where(StaffUser.id == user.id)
        .where(or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(user, ["totp_last_step"])
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def _use_recovery_code(user: StaffUser, typed: str, now: datetime) -> bool:
    code = normalise_recovery_code(typed)
    if code is None:
        return False
    unused = db.session.scalars(
        select(RecoveryCode).where(RecoveryCode.staff_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in unused:
        if verify_secret(row.code_hash, code):
            spent = db.session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(spent.rowcount)  # type: ignore[attr-defined]
    return False


def _replace_recovery_codes(user: StaffUser) -> list[str]:
    codes = new_recovery_codes()
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == user.id))
    db.session.add_all(RecoveryCode(staff_id=user.id, code_hash=hash_secret(c)) for c in codes)
    return codes


def _unused_codes(staff_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.staff_id == staff_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def _staff(staff_id: int) -> StaffUser:
    user = db.session.get(StaffUser, staff_id)
    if user is None:
        raise NotFound(f"staff {staff_id}")
    return user


def _actor(staff_id: int) -> str:
    return f"staff:{staff_id}"


def _issuer() -> str:
    return f"notifier {profile().name}"
