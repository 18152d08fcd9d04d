"""The web view of a campaign message: the page a signed "view in your browser" link opens.

The message is rendered again by the campaign's own composer (the template version it was sent
with, its data, the contact's name, language and links), so it is the one the contact received.
Reading only: a GET from a mail scanner records nothing. Rules in domain/web_view.py.
"""

from __future__ import annotations

from dataclasses import replace
from html import escape

from sqlalchemy import select

from notifier.campaigns.lifecycle import campaign_composer
from notifier.delivery.claims import recipient_of
from notifier.delivery.holdings import holdings_of, window_of
from notifier.delivery.rendering.compiler import RenderedMessage
from notifier.delivery.rendering.errors import TemplateError
from notifier.domain.errors import DomainError, NotFound
from notifier.domain.tokens import InvalidToken
from notifier.domain.web_view import read_web_view_token
from notifier.infra.clock import utcnow
from notifier.infra.context import token_secret
from notifier.infra.extensions import db
from notifier.models import Campaign, Contact, Delivery


class ContactErased(DomainError):
    """The contact was erased: their messages are gone with their data (410, not 404)."""


def message_page(token: str) -> RenderedMessage:
    """The message a web view token names; NotFound for a bad token, a campaign that does not
    exist, or a contact the campaign's ledger never held; ContactErased for an erased one."""
    try:
        campaign_id, contact_id = read_web_view_token(token_secret(), token)
    except InvalidToken:
        raise NotFound("web view link") from None
    campaign = db.session.get(Campaign, campaign_id)
    contact = db.session.get(Contact, contact_id)
    if campaign is None or contact is None:
        raise NotFound(f"campaign {campaign_id} or contact {contact_id}")
    if contact.erased_at is not None or not contact.email:
        raise ContactErased(f"contact {contact_id}")
    delivery = db.session.scalar(
        select(Delivery).where(
            Delivery.campaign_id == campaign_id, Delivery.contact_id == contact_id
        )
    )
    if delivery is None:
        raise NotFound(f"contact {contact_id} in campaign {campaign_id}")
    # A renewal message names the service expiring in the window of the day it was sent.
    window = window_of(campaign.audience, campaign.time_zone, delivery.sent_at or utcnow())
    holdings = holdings_of([contact_id], window).get(contact_id) if window else None
    composer = campaign_composer(campaign)
    try:
        # An A/B test's person sees the subject they were sent (deliveries.variant).
        recipient = replace(recipient_of(contact, holdings), variant=delivery.variant)
        message = composer.web_page(recipient, dict(campaign.data or {}), f"c{campaign_id}")
    except TemplateError:  # a renewal whose service has gone since: there is no message to show
        raise NotFound(f"the message of contact {contact_id} in campaign {campaign_id}") from None
    return titled(message)


def titled(message: RenderedMessage) -> RenderedMessage:
    """The page's <title> is the message's subject (MJML leaves it empty): the browser's tab
    names the mail, and a screen reader announces it (WCAG 2.4.2)."""
    title = f"<title>{escape(message.subject)}</title>"
    return replace(message, html=message.html.replace("<title></title>", title, 1))
