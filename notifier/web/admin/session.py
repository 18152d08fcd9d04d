"""Sign in and out, change one's password, choose one's language."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from notifier.auth import LockedOut, change_password, check_login, set_locale
from notifier.domain.errors import ValidationFailed
from notifier.i18n import translate
from notifier.web.admin import bp
from notifier.web.admin.forms import LanguageForm, LoginForm, PasswordForm
from notifier.web.admin.guard import flash_errors, requires


@bp.route("/login", methods=["GET", "POST"])
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
                login_user(user)
                session["lang"] = user.locale
                return redirect(url_for("admin.home"))
            error = translate("bad_login")
    elif request.method == "POST":
        error = translate("form_invalid")
    status = 401 if error else 200
    return render_template("admin/login.html", form=form, error=error), status


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
