"""Turn one recipient into signed message bytes; everything per campaign is prepared once."""

from __future__ import annotations

import functools
import hmac
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from notifier.delivery.rendering.compiler import (
    CompiledTemplate,
    MessageStencil,
    RenderedMessage,
    compile_template,
)
from notifier.delivery.rendering.errors import TemplateError
from notifier.delivery.rendering.footer import FooterData
from notifier.delivery.rendering.ics import event_ics
from notifier.delivery.rendering.samples import localized
from notifier.delivery.rendering.stencil import Stencil, html_quote
from notifier.delivery.rendering.tracking import TrackedPage, track_html, tracked_page
from notifier.domain.bounces.verp import TargetKind
from notifier.domain.locales import DEFAULT_LOCALE, Variant, Variants, variant_locale
from notifier.domain.profile import TRACK_CLICKS, TRACK_OPENS, Profile, Purpose
from notifier.domain.rsvp import rsvp_token
from notifier.domain.subscriptions import renewal_fields
from notifier.domain.tokens import CLICK, OPEN, make_token, make_tracking_token, verp_address
from notifier.domain.web_view import web_view_token
from notifier.infra.context import profile, public_base_url, settings, token_secret
from notifier.infra.settings import Settings
from notifier.mail.body import (
    Attachment,
    EncodedText,
    QuotedPrintablePieces,
    prefers_base64,
)
from notifier.mail.dkim import DkimSigner
from notifier.mail.message import MessageBuilder
from notifier.mail.smtp import Transport

UNSUBSCRIBE, PREFERENCES = "u", "p"


@dataclass(frozen=True)
class Recipient:
    contact_id: int
    email: str
    name: str
    locale: str
    attributes: dict[str, Any]
    time_zone: str = "Asia/Ho_Chi_Minh"
    # A renewal campaign's recipient: the subscription expiring in its window and every active
    # one (notifier/delivery/holdings.py); None for every other message.
    subscription: Mapping[str, Any] | None = None
    subscriptions: tuple[Mapping[str, Any], ...] = ()
    # TRACK_CLICKS | TRACK_OPENS when the consent notice this person agreed to discloses it
    # (claims.py); 0, the default, for everyone else and for every message but campaign mail.
    tracking: int = 0
    # The A/B test subject this person gets (deliveries.variant, docs/ab-tests.md); None: the
    # template's own subject.
    variant: int | None = None


# An A/B test's subjects, variant 1 first: (Vietnamese, English) each (domain/ab_test.py).
Subjects = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Links:
    unsubscribe: str
    unsubscribe_all: str
    preferences: str
    mailto: str


class TemplateLinks(Mapping[str, str]):
    """A recipient's links as `{{ links.<name> }}` reads them: the plain ones given, the signed
    ones made on first read (an HMAC each, per message: only those a template prints)."""

    __slots__ = ("_made", "_makers")

    def __init__(self, made: dict[str, str], makers: dict[str, Callable[[], str]]) -> None:
        self._made, self._makers = made, makers

    def __getitem__(self, name: str) -> str:
        found = self._made.get(name)
        if found is None:
            found = self._made[name] = self._makers[name]()
        return found

    def __iter__(self) -> Iterator[str]:
        return iter({**self._made, **self._makers})

    def __len__(self) -> int:
        return len({**self._made, **self._makers})


def links_for(contact_id: int, purpose_key: str) -> Links:
    """Tokens never expire: links in old mail keep working (RFC 8058 and COMPLIANCE.md)."""
    return _links(token_secret(), public_base_url(), _mailbox(), contact_id, purpose_key)


def _mailbox() -> tuple[str, str]:
    local, _, domain = profile().identity.unsubscribe_mailbox.partition("@")
    return local, domain


def _links(
    secret: bytes, base: str, mailbox: tuple[str, str], contact_id: int, purpose_key: str
) -> Links:
    one = make_token(secret, contact_id, purpose_key, UNSUBSCRIBE)
    local, domain = mailbox
    return Links(
        unsubscribe=f"{base}/u/{one}",
        unsubscribe_all=f"{base}/u/{make_token(secret, contact_id, None, UNSUBSCRIBE)}",
        preferences=f"{base}/p/{make_token(secret, contact_id, None, PREFERENCES)}",
        mailto=f"mailto:{local}+{one}@{domain}?subject=unsubscribe",
    )


def rsvp_link(secret: bytes, base: str, campaign_id: int, contact_id: int) -> str:
    """The page where the contact registers for the event campaign (web/public/rsvp.py)."""
    return f"{base}/e/{rsvp_token(secret, campaign_id, contact_id)}"


def web_view_link(secret: bytes, base: str, campaign_id: int, contact_id: int) -> str:
    """The page showing the contact's message of this campaign (web/public/web_view.py)."""
    return f"{base}/m/{web_view_token(secret, campaign_id, contact_id)}"


# A preview, a test send or a notice has no campaign to register for or to show: its links open
# the page that says the link does not work.
_NO_CAMPAIGN_RSVP = "/e/preview"
_NO_CAMPAIGN_WEB_VIEW = "/m/preview"


def _campaign_id(campaign: str) -> int | None:
    """The id in a campaign's Feedback-ID label ("c12"), None for other messages."""
    digits = campaign[1:]
    return int(digits) if campaign[:1] == "c" and digits.isdigit() and digits[0] != "0" else None


@dataclass(frozen=True)
class _SendContext:
    secret: bytes
    base: str
    mailbox: tuple[str, str]
    signer: DkimSigner | None


class Composer:
    """One template for one purpose: compiled once, then rendered and assembled per recipient."""

    def __init__(
        self,
        compiled: Mapping[str, CompiledTemplate],
        purpose: Purpose,
        active: Profile,
        attachments: tuple[Attachment, ...] = (),
    ) -> None:
        if DEFAULT_LOCALE not in compiled:
            raise ValueError("a template needs its Vietnamese variant")
        self.variants = dict(compiled)  # one compiled template per locale's variant
        self.purpose = purpose
        self.profile = active
        self._stencil_data: dict[str, Any] | None = None
        self._stencils: dict[tuple[str, str], _Prepared | None] = {}
        self._feedback: dict[str, tuple[tuple[str, str], ...]] = {}
        self._context: tuple[Settings, _SendContext] | None = None
        # An A/B test's composers, one per subject (build_composer): compose picks by the
        # recipient's variant. Empty for every other campaign.
        self.by_variant: dict[int, Composer] = {}
        identity = active.identity
        self.builder = MessageBuilder(
            from_address=identity.from_address,
            from_name=identity.from_name,
            list_id=purpose.list_id,
            list_name=purpose.name.vi,
            attachments=attachments,
        )

    def compose(
        self, recipient: Recipient, data: dict[str, Any], message_key: str, campaign: str = ""
    ) -> bytes:
        """`campaign` (e.g. "c12") leads the Feedback-ID, so a feedback loop can name it."""
        if recipient.variant is not None and self.by_variant:
            return self.by_variant[recipient.variant]._compose(
                recipient, data, message_key, campaign
            )
        return self._compose(recipient, data, message_key, campaign)

    def _compose(
        self, recipient: Recipient, data: dict[str, Any], message_key: str, campaign: str
    ) -> bytes:
        context = self._send_context()
        links = self._links_of(recipient, context)
        try:
            subject, text, html = self._render(recipient, data, links, campaign)
        except TemplateError as exc:  # name the variant that failed: staff fix that one
            raise exc.in_locale(self.locale_of(recipient)) from None
        message = self.builder.build(
            headers=self._feedback_header(campaign),
            to=recipient.email,
            to_name=recipient.name or None,
            subject=subject,
            text=text,
            html=html,
            unsubscribe_url=links.unsubscribe,
            unsubscribe_mailto=links.mailto,
            message_key=message_key,
        )
        return context.signer.sign(message) if context.signer else message

    def _links_of(self, recipient: Recipient, context: _SendContext) -> Links:
        return _links(
            context.secret, context.base, context.mailbox, recipient.contact_id, self.purpose.key
        )

    def _send_context(self) -> _SendContext:
        """What compose needs from the settings, read once while they stay the same object
        (a composer is cached per process; tests and reloads may change the settings)."""
        config = settings()
        if self._context is None or self._context[0] is not config:
            self._context = (
                config,
                _SendContext(token_secret(), public_base_url(), _mailbox(), dkim_signer()),
            )
        return self._context[1]

    def _feedback_header(self, campaign: str) -> tuple[tuple[str, str], ...]:
        """Gmail's Feedback-ID (campaign:kind:purpose:sender): ids only, never personal data.
        Signed by DKIM (dkim.SIGNED_HEADERS) so nobody can re-label a message."""
        if campaign not in self._feedback:
            fields = (campaign, str(self.purpose.kind), self.purpose.key, self.profile.key)
            value = ":".join(field for field in fields if field)
            self._feedback[campaign] = (("Feedback-ID", value),)
        return self._feedback[campaign]

    def locale_of(self, recipient: Recipient) -> str:
        """The variant the recipient reads, and so the language of their whole message."""
        return variant_locale(recipient.locale, self.variants)

    def compiled_for(self, recipient: Recipient) -> CompiledTemplate:
        return self.variants[self.locale_of(recipient)]

    def footer(self, recipient: Recipient, links: Links) -> FooterData:
        return self._footer(self.locale_of(recipient), links)

    def _footer(self, locale: str, links: Links) -> FooterData:
        return FooterData.for_purpose(
            self.profile.identity,
            self.purpose,
            locale,
            unsubscribe_url=links.unsubscribe,
            unsubscribe_all_url=links.unsubscribe_all,
            preferences_url=links.preferences,
        )

    @staticmethod
    def context(recipient: Recipient, data: Mapping[str, Any]) -> dict[str, Any]:
        """What a template sees: the campaign's data, then the recipient (see stencil.py).
        A recipient's own subscription replaces the data's sample one (previews, test sends)."""
        context = {
            **data,
            "time_zone": recipient.time_zone,
            "contact_name": recipient.name or recipient.email.partition("@")[0],
            "contact": {"name": recipient.name, "email": recipient.email, **recipient.attributes},
        }
        if recipient.subscription is not None:
            context.update(renewal_fields(recipient.subscription))
            context["subscription"] = recipient.subscription
            context["subscriptions"] = list(recipient.subscriptions)
        return context

    def _render(
        self, recipient: Recipient, data: dict[str, Any], links: Links, campaign: str = ""
    ) -> tuple[str, str, str | EncodedText]:
        """Subject, text and HTML: from the stencil when the template allows, else by Jinja."""
        locale = self.locale_of(recipient)
        compiled = self.variants[locale]
        # Signed only for the templates that show them.
        shown = (
            self._template_links(recipient.contact_id, campaign, links)
            if compiled.uses_links
            else {}
        )
        context = self._context_of(recipient, data, locale, shown)
        # A renewal recipient's own service replaces campaign data the stencil holds as
        # constant: their message is rendered whole (one query a batch, one Jinja render each).
        own = recipient.subscription is not None
        prepared = None if own else self._prepared(data, locale, recipient.time_zone)
        filled = prepared and compiled.fill_parts(
            prepared.stencil, context, [links.unsubscribe, links.unsubscribe_all, links.preferences]
        )
        # Untracked mail (everyone unless a notice disclosed tracking) pays one test here.
        tracker = self._tracker(recipient, campaign) if recipient.tracking else None
        if not filled:
            rendered = compiled.render(context, self._footer(locale, links))
            html = tracker.whole(rendered.html) if tracker else rendered.html
            return rendered.subject, rendered.text, html
        assert prepared is not None
        encoder, page, values = prepared.encoder, filled.page, filled.page_values
        if tracker is not None:
            tracked = prepared.tracked(len(values), tracker.base, tracker.opens)
            encoder, page = tracked.encoder, tracked.page.stencil
            values = [*values, *tracker.values(tracked.page)]
        encoded = encoder.encode(page.in_order(values)) if encoder else None
        return filled.subject, filled.text, encoded or page.fill(values)

    def _tracker(self, recipient: Recipient, campaign: str) -> _Tracker | None:
        campaign_id = _campaign_id(campaign)
        if campaign_id is None:  # a preview, test send or notice is never tracked
            return None
        context = self._send_context()
        return _Tracker(
            context.secret,
            context.base,
            campaign_id,
            recipient.contact_id,
            int(time.time()),
            clicks=bool(recipient.tracking & TRACK_CLICKS),
            opens=bool(recipient.tracking & TRACK_OPENS),
        )

    def web_page(
        self, recipient: Recipient, data: dict[str, Any], campaign: str
    ) -> RenderedMessage:
        """The recipient's message as compose() makes it, with their own links, for the web view.
        Jinja renders it whole: the stencil's fill makes the same text (test_rendering_stencil)."""
        if recipient.variant is not None and self.by_variant:  # the A/B subject they got
            return self.by_variant[recipient.variant].web_page(recipient, data, campaign)
        links = self._links_of(recipient, self._send_context())
        template_links = self._template_links(recipient.contact_id, campaign, links)
        return self.page(recipient, data, links, template_links)

    def page(
        self,
        recipient: Recipient,
        data: dict[str, Any],
        links: Links,
        template_links: Mapping[str, str],
    ) -> RenderedMessage:
        """The message's subject, HTML and text with the links given: the recipient's own (the
        web view) or links that name nobody (the public archive's sample person)."""
        locale = self.locale_of(recipient)
        context = self._context_of(recipient, data, locale, template_links)
        return self.variants[locale].render(context, self._footer(locale, links))

    def _context_of(
        self,
        recipient: Recipient,
        data: dict[str, Any],
        locale: str,
        template_links: Mapping[str, str],
    ) -> dict[str, Any]:
        context = self.context(recipient, localized(data, locale))
        if self.variants[locale].uses_links:
            context["links"] = template_links
        return context

    def _template_links(self, contact_id: int, campaign: str, links: Links) -> TemplateLinks:
        """`links` as a template sees them: the RSVP and web view links name the campaign being
        sent. Each is signed only if the template reads it (a promotion shows no RSVP button)."""
        context = self._send_context()
        secret, base = context.secret, context.base
        campaign_id = _campaign_id(campaign)
        if campaign_id is None:
            rsvp, web_view = f"{base}{_NO_CAMPAIGN_RSVP}", f"{base}{_NO_CAMPAIGN_WEB_VIEW}"
            return TemplateLinks(
                {"rsvp": rsvp, "web_view": web_view, "unsubscribe": links.unsubscribe,
                 "preferences": links.preferences}, {},
            )  # fmt: skip
        return TemplateLinks(
            {"unsubscribe": links.unsubscribe, "preferences": links.preferences},
            {
                "rsvp": lambda: rsvp_link(secret, base, campaign_id, contact_id),
                "web_view": lambda: web_view_link(secret, base, campaign_id, contact_id),
            },
        )

    def _prepared(self, data: dict[str, Any], locale: str, time_zone: str) -> _Prepared | None:
        """The template rendered once per campaign data, locale and time zone (see stencil.py),
        and its HTML's constant pieces encoded once."""
        if data is not self._stencil_data:
            # One composer serves every campaign of its template version: new data, new stencils.
            if self._stencil_data is None or data != self._stencil_data:
                self._stencils = {}
            self._stencil_data = data
        key = (locale, time_zone)
        if key not in self._stencils:
            # Only the sender and locale of this footer count: each message brings its links.
            sender = self._footer(locale, _NO_LINKS)
            shared = {**localized(data, locale), "time_zone": time_zone}
            stencil = self.variants[locale].stencil(shared, sender)
            self._stencils[key] = _Prepared(stencil, _encoder(stencil.page)) if stencil else None
        return self._stencils[key]


_NO_LINKS = Links(
    unsubscribe="https://links.invalid/",
    unsubscribe_all="https://links.invalid/",
    preferences="https://links.invalid/",
    mailto="mailto:links@invalid",
)


@dataclass(frozen=True)
class _Tracked:
    page: TrackedPage
    encoder: QuotedPrintablePieces | None


@dataclass(frozen=True)
class _Prepared:
    stencil: MessageStencil
    encoder: QuotedPrintablePieces | None  # None: base64 is smaller, and cheap per message
    _tracked: dict[tuple[int, str, bool], _Tracked] = field(default_factory=dict)

    def tracked(self, first_slot: int, base: str, opens: bool) -> _Tracked:
        """The page with its links (and pixel) as holes: cut once, on the first tracked message."""
        key = (first_slot, base, opens)
        if key not in self._tracked:
            page = tracked_page(self.stencil.page, first_slot, base, opens)
            self._tracked[key] = _Tracked(page, _encoder(page.stencil))
        return self._tracked[key]


@dataclass(frozen=True)
class _Tracker:
    """One tracked message's redirect links and pixel (docs/tracking.md)."""

    secret: bytes
    base: str
    campaign_id: int
    contact_id: int
    sent_at: int
    clicks: bool
    opens: bool

    def click(self, index: int, url: str) -> str:
        if not self.clicks:
            return url
        token = make_tracking_token(
            self.secret, CLICK, self.campaign_id, self.contact_id, self.sent_at, index, url
        )
        return f"{self.base}/t/c/{token}"

    def pixel(self) -> str:
        token = make_tracking_token(
            self.secret, OPEN, self.campaign_id, self.contact_id, self.sent_at, 0, ""
        )
        return f"{self.base}/t/o/{token}"

    def values(self, page: TrackedPage) -> list[str]:
        """The values of the tracked page's holes: each link, then the pixel."""
        links = [html_quote(self.click(index, url)) for index, url in enumerate(page.destinations)]
        return [*links, self.pixel()] if page.pixel else links

    def whole(self, html: str) -> str:
        return track_html(html, self.base, self.click, self.pixel() if self.opens else None)


def _encoder(page: Stencil) -> QuotedPrintablePieces | None:
    constants = page.constants
    return None if prefers_base64("".join(constants)) else QuotedPrintablePieces(constants)


def build_composer(
    variants: Variants,
    purpose_key: str,
    attachments: tuple[Attachment, ...] = (),
    subjects: Subjects = (),
) -> Composer:
    """Compile every variant; a TemplateError names the variant's locale when it is not vi.
    With an A/B test's `subjects`, also one composer per subject, the body unchanged."""
    composer = _build_composer(variants, purpose_key, attachments)
    for number, texts in enumerate(subjects, start=1):
        composer.by_variant[number] = _build_composer(
            with_subject(variants, texts), purpose_key, attachments
        )
    return composer


def with_subject(variants: Variants, texts: tuple[str, str]) -> Variants:
    """Each locale's variant with the A/B test's subject in its language (English for en)."""
    vietnamese, english = texts
    return tuple(
        (locale, replace(v, subject=english if locale == "en" else vietnamese))
        for locale, v in variants
    )


def _build_composer(
    variants: Variants, purpose_key: str, attachments: tuple[Attachment, ...]
) -> Composer:
    active = profile()
    purpose = active.purpose(purpose_key)
    compiled: dict[str, CompiledTemplate] = {}
    by_source: dict[Variant, CompiledTemplate] = {}  # one bilingual source: compiled once
    for locale, variant in variants:
        if variant not in by_source:
            try:
                by_source[variant] = compile_template(
                    variant.subject, variant.body_mjml, variant.text,
                    advertising=purpose.is_advertising, label=active.advertising_label,
                )  # fmt: skip
            except TemplateError as exc:
                raise exc.in_locale(locale) from None
        compiled[locale] = by_source[variant]
    return Composer(compiled, purpose, active, attachments)


@functools.lru_cache(maxsize=64)
def cached_composer(
    template_id: int,
    version: int,
    variants: Variants,
    purpose_key: str,
    attachments: tuple[Attachment, ...] = (),
    subjects: Subjects = (),
) -> Composer:
    """Compile once per template version per process (the version is part of the key)."""
    return build_composer(variants, purpose_key, attachments, subjects)


def event_invitation(campaign_id: int, data: dict[str, Any]) -> tuple[Attachment, ...]:
    """The .ics that puts an event in the recipient's calendar; ValueError names what is wrong."""
    data = dict(localized(data, "vi"))  # one calendar entry for everyone, in the default language
    missing = [key for key in ("event_name", "starts_at", "ends_at") if not data.get(key)]
    if missing:
        raise ValueError(f"an event needs {', '.join(missing)}")
    try:
        start = datetime.fromisoformat(str(data["starts_at"]))
        end = datetime.fromisoformat(str(data["ends_at"]))
    except ValueError:
        raise ValueError("starts_at and ends_at must be ISO 8601 date-times") from None
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("starts_at and ends_at need a time zone offset")
    identity = profile().identity
    location = ", ".join(str(data[k]) for k in ("venue", "address") if data.get(k))
    calendar = event_ics(
        uid=f"campaign-{campaign_id}@{identity.from_address.partition('@')[2]}",
        summary=str(data["event_name"]),
        start=start,
        end=end,
        now=datetime.now(UTC),
        organizer_email=identity.email,
        organizer_name=identity.company,
        location=location,
        description=str(data.get("summary", "")),
        url=str(data.get("register_url", "")),
    )
    return (Attachment("invite.ics", "text/calendar; charset=utf-8; method=PUBLISH", calendar),)


_transports: dict[tuple[str, int], Transport] = {}


def smtp_url() -> str:
    """SMTP_URL, or the built-in outbox server of the embedded setup."""
    config = settings()
    return config.SMTP_URL or f"smtp://127.0.0.1:{config.OUTBOX_PORT}"


def transport(url: str | None = None) -> Transport:
    """One SMTP connection per worker process and relay (`url`: one of RELAYS; SMTP_URL by
    default), reused across batches and jobs (per thread: an SMTP session is a conversation,
    and two threads on one socket would read each other's replies)."""
    key = (url or smtp_url(), threading.get_ident())
    if key not in _transports:
        _transports[key] = Transport.from_url(key[0])
    return _transports[key]


def dkim_signer() -> DkimSigner | None:
    config = settings()
    if not config.dkim_configured:
        return None
    return _signer(config.DKIM_KEY_FILE, config.DKIM_DOMAIN, config.DKIM_SELECTOR)


@functools.lru_cache(maxsize=4)
def _signer(path: str, domain: str, selector: str) -> DkimSigner:
    return DkimSigner.from_file(path, domain=domain, selector=selector)


def verp_keys() -> dict[TargetKind, bytes]:
    """A key per kind, derived from SECRET_KEY, so a delivery's VERP can never name a notice."""
    secret = token_secret()
    return {
        kind: hmac.new(secret, b"notifier/verp-key/" + kind.value.encode(), "sha256").digest()
        for kind in TargetKind
    }


def envelope_sender(delivery_id: int | None = None, notice_id: int | None = None) -> str:
    """The return path: with BOUNCE_DOMAIN set, a signed VERP address naming the message."""
    domain = settings().BOUNCE_DOMAIN.strip().lower()
    if domain and delivery_id is not None:
        return verp_address(verp_keys()[TargetKind.DELIVERY], delivery_id, domain)
    if domain and notice_id is not None:
        return verp_address(verp_keys()[TargetKind.NOTICE], notice_id, domain)
    return profile().identity.from_address
