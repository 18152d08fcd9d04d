"""Sign in (password, then the second factor where required) and out, password, language."""

from __future__ import annotations

import time

import segno
from flask import flash, g, redirect, render_template, request, session, url_for
from flask_limiter import RateLimitExceeded
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from notifier.domain.errors import ValidationFailed
from notifier.i18n import translate
from notifier.infra.clock import utcnow
from notifier.infra.extensions import limiter
from notifier.infra.rate_limits import login_limit
from notifier.operations import two_factor
from notifier.operations.sign_in import (
    LockedOut,
    Step,
    change_password,
    check_login,
    load_staff,
    next_step,
    second_factor_epoch,
    set_locale,
)
from notifier.operations.staff import StaffUser
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import ActionForm, LanguageForm, LoginForm, PasswordForm
from notifier.web.admin.guard import flash_errors, requires

# Between the password and the code: who, and until when. Not a sign-in: no page opens.
PENDING = "two_factor_pending"
PENDING_FOR = 600  # seconds to find the phone, or to scan the QR code at first sign-in
# The second factor a session was opened with; a reset or re-enrolment ends that session.
FACTOR = "two_factor_epoch"


class CodeForm(FlaskForm):
    code = StringField(validators=[DataRequired(), Length(max=32)])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login() -> tuple[str, int] | Response:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            user = check_login(form.email.data or "", form.password.data or "", request.remote_addr)
        except LockedOut as exc:
            error = translate("locked", minutes=exc.minutes)
        else:
            if user is not None:
                _fresh_session()
                session["lang"] = user.locale
                step = next_step(user)
                if step is Step.SIGNED_IN:
                    return _signed_in(user)
                session[PENDING] = {"staff": user.id, "until": int(time.time()) + PENDING_FOR}
                endpoint = "admin.two_factor" if step is Step.CODE else "admin.two_factor_enrol"
                return redirect(url_for(endpoint))
            error = translate("bad_login")
    elif request.method == "POST":
        error = translate("form_invalid")
    status = 401 if error else 200
    return render_template("admin/login.html", form=form, error=error), status


@bp.errorhandler(RateLimitExceeded)
def _too_many_sign_ins(exc: RateLimitExceeded) -> tuple[str, int]:
    """Only the sign-in form is limited: answer on it, so a person knows what to do."""
    form = LoginForm(formdata=None)
    return render_template("admin/login.html", form=form, error=translate("too_many_sign_ins")), 429


@bp.route("/two-factor", methods=["GET", "POST"], endpoint="two_factor")
def two_factor_code() -> tuple[str, int] | Response:
    user = _pending()
    if user is None or user.totp_enrolled_at is None:
        return _start_again()
    form, error = CodeForm(), None
    if form.validate_on_submit():
        try:
            two_factor.verify_code(user.id, form.code.data or "", request.remote_addr, utcnow())
        except LockedOut as exc:
            session.pop(PENDING, None)
            login_form = LoginForm(data={"email": user.email})
            error = translate("locked", minutes=exc.minutes)
            return render_template("admin/login.html", form=login_form, error=error), 401
        except two_factor.WrongCode:
            error = translate("bad_code")
        else:
            return _signed_in(user)
    elif request.method == "POST":
        error = translate("form_invalid")
    page = render_template("admin/two_factor.html", form=form, error=error)
    return page, 401 if error else 200


@bp.route("/two-factor/enrol", methods=["GET", "POST"])
def two_factor_enrol() -> tuple[str, int] | Response:
    user = _pending()
    if user is None:
        return _start_again()
    if user.totp_enrolled_at is not None:
        return redirect(url_for("admin.two_factor"))
    enrolment = two_factor.start_enrolment(user.id)
    form, error = CodeForm(), None
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_enrolment(
                user.id, form.code.data or "", request.remote_addr, utcnow()
            )
        except LockedOut as exc:
            error = translate("locked", minutes=exc.minutes)
        except two_factor.WrongCode:
            error = translate("bad_code")
        else:
            _signed_in(user)
            # Shown in this response only; the database keeps their hashes.
            return render_template("admin/two_factor_codes.html", codes=codes), 200
    elif request.method == "POST":
        error = translate("form_invalid")
    qr = segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2)
    secret = " ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4))
    page = render_template(
        "admin/two_factor_enrol.html", form=form, error=error, qr=qr, secret=secret
    )
    return page, 422 if error else 200


@bp.post("/staff/<int:user_id>/two-factor/reset")
@requires("staff.manage")
def two_factor_reset(user_id: int) -> Response:
    if ActionForm().validate_on_submit():
        try:
            two_factor.reset(user_id, current_user.id, request.remote_addr)
        except ValidationFailed as exc:
            flash_errors(exc)
        else:
            flash(translate("two_factor_reset_done"), "success")
    return redirect(url_for("admin.staff"))


@bp.before_request
def _second_factor_still_valid() -> Response | None:
    """A session opened before the role required a factor, or before a reset, ends here."""
    if not current_user.is_authenticated or next_step(current_user) is Step.SIGNED_IN:
        return None
    if session.get(FACTOR) == second_factor_epoch(current_user):
        return None
    logout_user()
    _fresh_session()
    return redirect(url_for("admin.login"))


def _pending() -> StaffUser | None:
    """The staff member between password and code, if this session has one that is recent."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or int(pending.get("until", 0)) < time.time():
        return None
    user = load_staff(str(pending.get("staff", 0)))
    return user if user is not None and user.active else None


def _start_again() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("admin.home"))
    session.pop(PENDING, None)
    flash(translate("two_factor_expired"), "error")
    return redirect(url_for("admin.login"))


def _signed_in(user: StaffUser) -> Response:
    session.pop(PENDING, None)
    login_user(user)
    session[FACTOR] = second_factor_epoch(user)
    return redirect(url_for("admin.home"))


@bp.post("/logout")
@requires(None)
def logout() -> Response:
    logout_user()
    _fresh_session()
    return redirect(url_for("admin.login"))


def _fresh_session() -> None:
    """A new CSRF token and nothing else carried over when someone signs in or out."""
    session.clear()
    # Flask-WTF caches the token on g; it belonged to the session just cleared.
    g.pop("csrf_token", None)


@bp.route("/password", methods=["GET", "POST"])
@requires(None)
def password() -> str | Response:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            change_password(
                current_user.id, form.current.data or "", form.new.data or "",
                form.repeated.data or "",
            )  # fmt: skip
        except ValidationFailed as exc:
            flash_errors(exc)
        else:
            flash(translate("password_changed"), "success")
            return redirect(url_for("admin.home"))
    return render_template("admin/password.html", form=form)


@bp.post("/language")
def language() -> Response:
    form = LanguageForm()
    if form.validate_on_submit():
        session["lang"] = form.lang.data
        if current_user.is_authenticated:
            set_locale(current_user.id, str(form.lang.data))
    target = request.referrer or ""
    # Only back to a page of this site: the referrer is client-controlled.
    if not target.startswith(request.host_url):
        target = url_for("admin.home")
    return redirect(target)
