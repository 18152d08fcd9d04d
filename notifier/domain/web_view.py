"""The web view of a campaign message ("view in your browser"), the pure rules: the signed link
naming (campaign, contact). No I/O: the caller reads the secret."""

from __future__ import annotations

from notifier.domain.tokens import make_campaign_token, read_campaign_token

# Its own token action: the MAC covers it, so an unsubscribe, preferences or RSVP token never
# opens a message's web view, nor a web view token any of those pages.
WEB_VIEW_ACTION = "view"


def web_view_token(secret: bytes, campaign_id: int, contact_id: int) -> str:
    """The token of one contact's web view link for one campaign's message."""
    return make_campaign_token(secret, campaign_id, contact_id, WEB_VIEW_ACTION)


def read_web_view_token(secret: bytes, token: str) -> tuple[int, int]:
    """(campaign id, contact id) of a genuine web view token; InvalidToken for anything else."""
    return read_campaign_token(secret, token, WEB_VIEW_ACTION)
