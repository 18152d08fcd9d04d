"""Unsubscribe links: GET shows a confirm button, POST (also RFC 8058 one-click) withdraws."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from notifier.contacts import refusals
from notifier.contacts.consent_ledger import ConsentSource, Evidence
from notifier.contacts.preferences import choices
from notifier.domain.masking import mask_email
from notifier.infra.context import profile
from notifier.infra.extensions import csrf
from notifier.privacy import verified_links
from notifier.web.public.links import UNSUBSCRIBE, from_token, requester, token_for
from notifier.web.public.pages import Problem, bp, render


@bp.get("/u/<token>")
def unsubscribe_page(token: str) -> Response:
    """Never changes anything: link scanners fetch every URL in a message."""
    contact, claims = from_token(token, UNSUBSCRIBE)
    return render(
        "public/unsubscribe.html",
        contact=contact,
        purpose=profile().purpose(claims.purpose) if claims.purpose else None,
        token=token,
        all_token=token_for(contact, UNSUBSCRIBE),
        choices=choices(contact.id),
    )


@bp.post("/u/<token>")
@csrf.exempt  # RFC 8058: mail providers POST with no cookie and no form token
def unsubscribe(token: str) -> Response:
    contact, claims = from_token(token, UNSUBSCRIBE)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    if not one_click and request.form.get("confirm") != "yes":
        raise Problem("bad_request", 400)
    who = requester(contact)
    evidence = Evidence(
        source=ConsentSource.ONE_CLICK if one_click else ConsentSource.UNSUBSCRIBE_LINK,
        locale=who.locale,
        ip=who.ip,
        user_agent=who.user_agent,
    )
    refusal = refusals.refuse(contact.id, claims.purpose, evidence)
    # 200 with the result, never a redirect: RFC 8058 clients do not follow one.
    return render(
        "public/unsubscribed.html",
        contact=contact,
        purpose=profile().purpose(claims.purpose) if claims.purpose else None,
        refusal=refusal,
        token=token,
        choices=choices(contact.id),
    )


@bp.post("/u/<token>/preferences-link")
@csrf.exempt  # no cookie on the one-click result page; a forged post only mails the owner
def send_preferences_link(token: str) -> Response:
    """The unsubscribe link is in every mail header and may be forwarded: it never hands out the
    preference link itself, it has it sent to the address of record."""
    contact, _ = from_token(token, UNSUBSCRIBE)
    verified_links.send_preferences_link(contact.id, requester(contact))
    return render("public/verify_sent.html", contact=contact, to=mask_email(contact.email))
