"""A campaign's opens and clicks as CSV (counts only; docs/tracking.md)."""

from __future__ import annotations

from werkzeug.wrappers import Response

from notifier.campaigns import engagement
from notifier.web.admin.blueprint import bp
from notifier.web.admin.guard import requires, staff_access


@bp.get("/campaigns/<int:campaign_id>/engagement.csv")
@requires("campaigns.view")
def campaign_engagement_csv(campaign_id: int) -> Response:
    body = engagement.engagement_csv(staff_access(), campaign_id)
    return Response(
        body, mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename=campaign-{campaign_id}-engagement.csv"
        },
    )  # fmt: skip
