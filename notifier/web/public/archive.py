"""The public archive of a purpose (docs/web-view.md): the list of its finished campaigns and each
one rendered for a sample person. Off unless the profile turns it on: 404."""

from __future__ import annotations

from werkzeug.wrappers import Response

from notifier.campaigns import archive
from notifier.i18n import page_locale
from notifier.web.public.pages import bp, render
from notifier.web.public.web_view import MESSAGE_POLICY


@bp.get("/archive/<purpose_key>")
def archive_list(purpose_key: str) -> Response:
    purpose = archive.archived_purpose(purpose_key)
    return render(
        "public/archive.html", purpose=purpose, campaigns=archive.archived_campaigns(purpose)
    )


@bp.get("/archive/<purpose_key>/<int:campaign_id>")
def archive_message(purpose_key: str, campaign_id: int) -> Response:
    purpose = archive.archived_purpose(purpose_key)
    message = archive.archived_message(purpose, campaign_id, page_locale())
    response = Response(message.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MESSAGE_POLICY
    return response
