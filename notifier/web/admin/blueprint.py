"""The admin blueprint: pages for marketing, care, sales and shipping staff, each by role."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from werkzeug.wrappers import Response

from notifier.domain.errors import NotFound
from notifier.infra.context import profile
from notifier.operations.access import Forbidden
from notifier.operations.doctor import PERMISSION as DOCTOR_PERMISSION
from notifier.operations.queue_monitor import PERMISSION as QUEUES_PERMISSION

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Loose on styles only because e-mail previews carry inline CSS; scripts come from /static alone.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)


NAV = (
    # (endpoint, message key, permission, icon)
    ("admin.home", "nav_dashboard", None, "◧"),
    ("admin.campaigns_list", "nav_campaigns", "campaigns.view", "➤"),
    ("admin.segments_list", "nav_segments", "campaigns.view", "◎"),
    ("admin.email_templates", "nav_templates", "templates.manage", "✎"),
    ("admin.notices_page", "nav_notices", "notices.manage", "↻"),
    ("admin.contacts", "nav_contacts", "contacts.view", "☰"),
    ("admin.privacy_requests", "nav_privacy", "privacy.handle", "⚖"),
    ("admin.outbox", "nav_outbox", "outbox.view", "✉"),
    ("admin.audit_log", "nav_audit", "audit.view", "⌕"),
    ("admin.staff", "nav_staff", "staff.manage", "☺"),
    ("admin.webhooks", "nav_webhooks", "webhooks.manage", "⇄"),
    ("admin.queues", "nav_queues", QUEUES_PERMISSION, "≡"),
    ("admin.deliverability", "nav_deliverability", DOCTOR_PERMISSION, "✓"),
    ("admin.settings", "nav_settings", "settings.view", "⚙"),
)


@bp.app_context_processor
def _inject() -> dict[str, object]:
    from notifier.i18n import current_locale, has_message, translate
    from notifier.infra.clock import utcnow
    from notifier.web.admin.guard import in_zone, local_time, purpose_name, staff_access
    from notifier.web.admin.problems import problem_text

    values: dict[str, object] = {
        "t": translate, "locale": current_locale(), "when": local_time, "in_zone": in_zone,
        "has_message": has_message, "purpose_name": purpose_name, "now": utcnow,
        "profile_name": lambda: profile().name, "role_name": _role_name, "problem": problem_text,
    }  # fmt: skip
    if current_user and current_user.is_authenticated:
        access = staff_access()
        values["access"] = access
        values["nav"] = [item for item in NAV if item[2] is None or access.can(item[2])]
    return values


def _role_name(key: str) -> str:
    from notifier.i18n import current_locale

    try:
        return profile().role(key).name.get(current_locale())
    except KeyError:
        return key


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # Pages hold personal data: no shared or back-button cache keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden) -> tuple[str, int]:
    return render_template("admin/error.html", code=403), 403


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[str, int]:
    return render_template("admin/error.html", code=404), 404


# The views attach themselves to bp when imported.
