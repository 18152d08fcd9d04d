"""Sign-up with double opt-in: unticked boxes per purpose and a confirmation email (the form's rate
limits are in notifier/web/public/signup.py)."""

from __future__ import annotations

from collections.abc import Iterable

from notifier.contacts import consent_ledger as consent
from notifier.contacts.contacts import clean_fields, find_by_email
from notifier.delivery import system_mail
from notifier.domain.addresses import InvalidAddress, normalise_email
from notifier.domain.consent_rules import ConsentStatus
from notifier.domain.errors import NotFound, ValidationFailed
from notifier.infra.context import profile, public_base_url, suppression_salt
from notifier.infra.extensions import db
from notifier.infra.hashing import address_hash, sha256_hex
from notifier.models import (
    ConsentEvent,
    ConsentSource,
    ConsentState,
    Contact,
    Suppression,
    SystemMailKind,
    utcnow,
)
from notifier.privacy.requests import Requester

TOKEN_SEPARATOR = "."  # noqa: S105 - joins tokens in a URL, not a secret


def subscribe(email: str, name: str, purpose_keys: Iterable[str], requester: Requester) -> None:
    """Validate, then record a pending request per purpose and mail one confirmation link.

    The answer is the same whether or not the address is known or suppressed, so the form
    tells nobody who is a customer.
    """
    address, clean_name, keys = _validate(email, name, purpose_keys)
    if _suppressed(address):
        return
    contact = find_by_email(address)
    if contact is None:
        contact = Contact(
            email=address,
            name=clean_name,
            locale=requester.locale,
            attributes={},
            deal={},
            address_hash=address_hash(suppression_salt(), address),
        )
        db.session.add(contact)
        db.session.flush()
    elif contact.restricted_at is not None:
        return
    tokens = {}
    for key in keys:
        evidence = consent.Evidence(
            source=ConsentSource.SIGNUP,
            notice_version=profile().purpose(key).notice_version,
            locale=requester.locale,
            ip=requester.ip,
            user_agent=requester.user_agent,
            reference="subscribe form",
        )
        token = consent.append_request(contact, key, evidence)
        if token is not None:
            tokens[key] = token
    queue_opt_in(contact, tokens, requester.locale)
    db.session.flush()


def _validate(email: str, name: str, purpose_keys: Iterable[str]) -> tuple[str, str, list[str]]:
    errors: dict[str, str] = {}
    address = ""
    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        errors["email"] = str(exc)
    clean_name = ""
    try:
        clean_name = clean_fields({"name": name})["name"]
    except ValidationFailed as exc:
        errors.update(exc.errors)
    advertising = set(consent.advertising_keys())
    keys = list(dict.fromkeys(purpose_keys))
    if not keys:
        errors["purposes"] = "tick at least one"
    elif not set(keys) <= advertising:
        errors["purposes"] = "unknown purpose"
    if errors:
        raise ValidationFailed(errors)
    return address, clean_name, keys


def _suppressed(address: str) -> bool:
    digest = address_hash(suppression_salt(), address)
    scopes = db.session.scalars(
        db.select(Suppression.scope).where(Suppression.address_hash == digest)
    )
    return bool({"all", "advertising"} & set(scopes))


def queue_opt_in(contact: Contact, tokens: dict[str, str], locale: str) -> None:
    """One email for all purposes asked for at once, with one link confirming them together."""
    if not tokens or not contact.email:
        return
    locale = locale if locale in ("vi", "en") else "vi"
    system_mail.queue_mail(
        SystemMailKind.OPT_IN,
        contact.email,
        locale,
        {
            "link": f"{confirm_url(list(tokens.values()))}?lang={locale}",
            "purposes": [profile().purpose(key).name.get(locale) for key in tokens],
            "received_at": utcnow().isoformat(),
            "time_zone": contact.time_zone,
        },
        contact_id=contact.id,
    )


def confirm_url(tokens: list[str]) -> str:
    base = public_base_url()
    return f"{base}/confirm/{TOKEN_SEPARATOR.join(tokens)}"


def confirm(joined: str, requester: Requester) -> list[str]:
    """The second step; a link used twice answers with what it already confirmed."""
    tokens = joined.split(TOKEN_SEPARATOR)
    if not joined or len(tokens) > len(profile().purposes):
        raise NotFound("unknown confirmation link")
    confirmed, newly = [], []
    for token in tokens:
        request = db.session.scalar(
            db.select(ConsentEvent).where(
                ConsentEvent.confirmation_token_sha256 == sha256_hex(token)
            )
        )
        if request is None:
            raise NotFound("unknown confirmation link")
        state = db.session.get(ConsentState, (request.contact_id, request.purpose_key))
        if state is None or state.status != ConsentStatus.GRANTED:
            evidence = consent.Evidence(
                source=ConsentSource(request.source),
                ip=requester.ip,
                user_agent=requester.user_agent,
            )
            consent.confirm(token, evidence)
            newly.append(request)
        confirmed.append(request.purpose_key)
    if newly:
        queue_welcome(newly[0], [r.purpose_key for r in newly])
    return confirmed


def queue_welcome(request: ConsentEvent, purpose_keys: list[str]) -> None:
    """The welcome after a double opt-in, in the confirmation's transaction: one per link that
    granted something (a second click grants nothing, so it welcomes nobody). It says what
    comes and how often, as the sign-up form disclosed, in the form's language."""
    contact = db.session.get(Contact, request.contact_id)
    if contact is None or not contact.email:
        return
    locale = request.locale if request.locale in ("vi", "en") else "vi"
    system_mail.queue_mail(
        SystemMailKind.WELCOME,
        contact.email,
        locale,
        {
            "purposes": [
                system_mail.welcome_line(profile().purpose(key), locale) for key in purpose_keys
            ],
            "received_at": utcnow().isoformat(),
            "time_zone": contact.time_zone,
        },
        contact_id=contact.id,
    )
