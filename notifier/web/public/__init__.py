"""The public pages a contact reaches through signed links: the blueprint lives in pages.py."""

from __future__ import annotations

from notifier.web.public import (  # noqa: F401 - importing a page registers its routes
    archive,
    inbound,
    preferences,
    privacy,
    refusal_check,
    rsvp,
    signup,
    tracking,
    unsubscribe,
    verified,
    web_view,
)
from notifier.web.public.pages import bp

__all__ = ["bp"]
