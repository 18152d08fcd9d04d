"""The dashboard: what is sending, how it lands, and which privacy requests are due."""

from __future__ import annotations

from flask import render_template

from notifier.infra.clock import utcnow
from notifier.operations import dashboard
from notifier.web.admin.blueprint import bp
from notifier.web.admin.guard import requires, staff_access


@bp.get("/")
@requires(None)
def home() -> str:
    access = staff_access()
    # Roles without campaign or privacy rights (shipping) get a plain start page.
    shows = access.can("campaigns.view") or access.can("privacy.handle")
    overview = dashboard.overview(utcnow()) if shows else None
    return render_template("admin/home.html", overview=overview, min_sent=dashboard.MIN_SENT)
