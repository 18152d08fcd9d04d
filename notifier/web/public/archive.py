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


@bp.get("/archive/<purpose_key>/<campaign>")
def archive_message(purpose_key: str, campaign: str) -> Response:
    purpose = archive.archived_purpose(purpose_key)
    message = archive.archived_message(purpose, _campaign_id(campaign), page_locale())
    response = Response(message.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MESSAGE_POLICY
    return response


def _campaign_id(text: str) -> int:
    """The id the address names, or 0 (no campaign has it) for anything else: every bad address
    gets the same "link does not work" page. An int converter would let an id past the
    database's integer through (a 500 on PostgreSQL) and answer "-1" with another page."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else 0
