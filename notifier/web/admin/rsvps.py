"""An event campaign's registrations (RSVPs): who registered, as CSV (by role, audited)."""

from __future__ import annotations

from werkzeug.wrappers import Response

from notifier.campaigns import rsvps
from notifier.web.admin.blueprint import bp
from notifier.web.admin.guard import requires, staff_access


@bp.get("/campaigns/<int:campaign_id>/rsvps.csv")
@requires("campaigns.view")
def campaign_rsvps_csv(campaign_id: int) -> Response:
    body = rsvps.registered_csv(staff_access(), campaign_id)
    return Response(
        body, mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=campaign-{campaign_id}-rsvps.csv"},
    )  # fmt: skip
