"""Turning a link token from an email into the contact it names, or a friendly 404."""

from __future__ import annotations

from flask import request

from notifier.contacts.contacts import Contact
from notifier.contacts.preferences import linked_contact
from notifier.domain.tokens import InvalidToken, TokenClaims, make_token, verify_token
from notifier.infra.context import profile, token_secret
from notifier.privacy.requests import Requester
from notifier.web.public.pages import Problem, page_locale

UNSUBSCRIBE, PREFERENCES = "u", "p"


def from_token(token: str, action: str) -> tuple[Contact, TokenClaims]:
    try:
        claims = verify_token(token_secret(), token, action)
    except InvalidToken:
        raise Problem("bad_link", 404) from None
    if claims.purpose is not None and claims.purpose not in {p.key for p in profile().purposes}:
        raise Problem("bad_link", 404)
    return linked_contact(claims.contact_id), claims


def token_for(contact: Contact, action: str, purpose: str | None = None) -> str:
    return make_token(token_secret(), contact.id, purpose, action)


def requester(contact: Contact | None = None) -> Requester:
    return Requester(
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        locale=page_locale(contact),
    )
