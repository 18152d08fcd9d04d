"""Service mail to contacts (confirmations, acknowledgements): queued with the change, sent once."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import ColumnElement, or_, select

from notifier.delivery.composer import dkim_signer, envelope_sender, event_invitation
from notifier.delivery.rendering.samples import make_sample
from notifier.delivery.sending import verdict_on
from notifier.delivery.single import Throttled, claim, send_one, still_ours
from notifier.domain.profile import Profile, Purpose
from notifier.domain.send_outcome import Fate, SendResult
from notifier.domain.tokens import make_token
from notifier.infra.config import ROOT
from notifier.infra.context import profile, public_base_url, token_secret
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, enqueue_after_commit, queue
from notifier.infra.translations import NP_, pgettext, texts
from notifier.mail.body import Attachment
from notifier.mail.message import message_id_of, new_message_id
from notifier.models import (
    Campaign,
    PrivacyRequest,
    PrivacyRequestStatus,
    SystemMail,
    SystemMailKind,
    SystemMailStatus,
    utcnow,
)

SEND_JOB = "workers.jobs.send_system_mail"
MAIL_DIR = ROOT / "templates" / "public" / "mail"
# Confirmation links are secrets: they stay in the row only until the mail has left.
SECRET_KEYS = frozenset({"link"})
# Each subject in the catalogs under the "email subject" context (a heading may say it shorter).
SUBJECTS = {
    SystemMailKind.REFUSAL: NP_("email subject", "Confirmation of your refusal"),
    SystemMailKind.OPT_IN: NP_("email subject", "Please confirm your subscription"),
    SystemMailKind.PRIVACY_ACK: NP_("email subject", "We received your personal data request"),
    SystemMailKind.EMAIL_CHANGE: NP_("email subject", "Confirm your new email address"),
    # Both languages: the person may never have told us theirs, and the question must be understood.
    SystemMailKind.REFUSAL_CHECK: NP_(
        "email subject",
        "Bạn muốn ngừng nhận email quảng cáo? / Did you ask to stop our advertising?",
    ),
    SystemMailKind.VERIFY: NP_("email subject", "Verify it is you"),
    SystemMailKind.PREFERENCES_LINK: NP_("email subject", "Your preferences link"),
    SystemMailKind.ADDRESS_CHANGED: NP_("email subject", "Your email address was changed"),
    SystemMailKind.WELCOME: NP_("email subject", "Welcome: your subscription is confirmed"),
    SystemMailKind.RETENTION: NP_(
        "email subject", "Your contract has ended: when your personal data will be erased"
    ),
    SystemMailKind.RSVP_CONFIRMED: NP_("email subject", "You are registered for the event"),
    SystemMailKind.RSVP_REMINDER: NP_("email subject", "Reminder: your event starts soon"),
}


def queue_mail(
    kind: SystemMailKind,
    to_address: str,
    locale: str,
    data: dict[str, Any],
    *,
    contact_id: int | None = None,
    privacy_request_id: int | None = None,
) -> SystemMail:
    """In the caller's transaction: the mail exists exactly when the change it confirms does."""
    mail = SystemMail(
        kind=kind.value,
        to_address=to_address,
        locale=locale if locale in ("vi", "en") else "vi",
        data=data,
        contact_id=contact_id,
        privacy_request_id=privacy_request_id,
        status=SystemMailStatus.QUEUED,
    )
    db.session.add(mail)
    db.session.flush()
    enqueue_after_commit(db.session(), NOTICES, SEND_JOB, mail.id)
    return mail


def send(mail_id: int) -> str:
    """Claim, render, send, record; a second run of the same job sends nothing."""
    now = utcnow()
    # A job that comes early (a duplicate enqueued before the last try's 4xx) leaves the mail
    # to its backoff: only a mail whose wait has passed is claimed.
    token = claim(
        SystemMail, mail_id, SystemMailStatus.QUEUED, SystemMailStatus.SENDING, now,
        _due(now),
    )  # fmt: skip
    db.session.commit()
    mail = db.session.get(SystemMail, mail_id)
    if mail is None:
        return "missing"
    if token is None:
        return mail.status
    if not mail.to_address:
        if not still_ours(SystemMail, mail_id, token, SystemMailStatus.SENDING):
            return _refused(mail)
        return _finish(mail, SystemMailStatus.CANCELLED, "address erased")
    message = build_message(mail)
    try:
        result = send_one(envelope_sender(), mail.to_address, message, kind="system")
    except Throttled as held:  # the relays' limits: nothing tried, no attempt counted
        if not still_ours(SystemMail, mail_id, token, SystemMailStatus.SENDING):
            return _refused(mail)
        mail.next_attempt_at = held.due()
        return _finish(mail, SystemMailStatus.QUEUED, held.reason)
    # Fenced: nothing of this result is written if the recovery gave the mail away meanwhile.
    if not still_ours(SystemMail, mail_id, token, SystemMailStatus.SENDING):
        return _refused(mail)
    return _record(mail, result, message)


def _refused(mail: SystemMail) -> str:
    db.session.rollback()
    db.session.refresh(mail)
    return mail.status


def _record(mail: SystemMail, result: SendResult, message: bytes) -> str:
    verdict = verdict_on(result.status, mail.attempts, mail.to_address or "", resend_unknown=True)
    mail.attempts = verdict.attempts
    if verdict.fate is Fate.SENT:
        mail.message_id = message_id_of(message)
        mail.sent_at = utcnow()
        mail.data = {k: v for k, v in mail.data.items() if k not in SECRET_KEYS}
        _acknowledge(mail)
        return _finish(mail, SystemMailStatus.SENT, "")
    error = f"{result.code or ''} {result.message}".strip()[:500]
    if verdict.fate is not Fate.RETRY:
        return _finish(mail, SystemMailStatus.FAILED, error)
    # A retry stays queued until the backoff of its relay and domain has passed (the verdict's
    # next_attempt_at, as for notices and campaign mail); `reconcile` enqueues it then.
    mail.next_attempt_at = verdict.next_attempt_at
    return _finish(mail, SystemMailStatus.QUEUED, error)


def _acknowledge(mail: SystemMail) -> None:
    """The acknowledgement of a privacy request counts from the moment it left."""
    if mail.privacy_request_id is None:
        return
    request = db.session.get(PrivacyRequest, mail.privacy_request_id)
    if request is not None and request.acknowledged_at is None:
        request.acknowledged_at = mail.sent_at
        if request.status == PrivacyRequestStatus.RECEIVED:
            request.status = PrivacyRequestStatus.ACKNOWLEDGED


def _finish(mail: SystemMail, status: SystemMailStatus, error: str) -> str:
    mail.status, mail.error = status.value, error
    db.session.commit()
    return status.value


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def render_mail(
    kind: SystemMailKind,
    locale: str,
    data: Mapping[str, Any],
    active: Profile,
    preferences_url: str | None = None,
) -> RenderedMail:
    """Subject, text and HTML of one system mail, in the person's language (vi unless en)."""
    locale = "en" if locale == "en" else "vi"
    context = {
        **data,
        "locale": locale,
        **texts(locale),
        "when": lambda iso: local_time(
            iso, data.get("time_zone") or active.default_time_zone, locale
        ),
        "day": lambda iso: local_day(iso, locale),
        "identity": active.identity,
        "preferences_url": preferences_url,
    }
    return RenderedMail(
        subject=pgettext(locale, *SUBJECTS[kind]),
        text=_env().get_template(f"{kind.value}.txt").render(context),
        html=_env().get_template(f"{kind.value}.html").render(context),
    )


def mail_samples(kind: SystemMailKind, now: datetime, active: Profile) -> dict[str, dict[str, Any]]:
    """The kind's sample data per locale (templates/public/mail/samples.toml), dated from `now`
    and in the profile's name; refusals and sign-ups name the profile's advertising purposes."""
    samples: dict[str, dict[str, Any]] = {}
    for locale, raw in _sample_tables()[kind.value].items():
        data = make_sample(raw, now, active.identity)
        advertising = [p for p in active.purposes if p.is_advertising]
        if kind in (SystemMailKind.REFUSAL, SystemMailKind.OPT_IN):
            data["purposes"] = [p.name.get(locale) for p in advertising]
        elif kind is SystemMailKind.WELCOME:
            data["purposes"] = [welcome_line(p, locale) for p in advertising]
        samples[locale] = data
    return samples


def welcome_line(purpose: Purpose, locale: str) -> dict[str, str]:
    """A confirmed purpose as the welcome mail names it: what, and how often (as disclosed)."""
    return {"name": purpose.name.get(locale), "frequency": purpose.frequency.get(locale)}


@functools.cache
def _sample_tables() -> dict[str, dict[str, dict[str, Any]]]:
    return tomllib.loads((MAIL_DIR / "samples.toml").read_text(encoding="utf-8"))


def build_message(mail: SystemMail) -> bytes:
    active = profile()
    identity = active.identity
    kind = SystemMailKind(mail.kind)
    rendered = render_mail(kind, mail.locale, mail.data, active, _preferences_url(mail))
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(identity.from_name, addr_spec=identity.from_address)
    message["To"] = mail.to_address
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = new_message_id(f"s{mail.id}", identity.from_address.rpartition("@")[2])
    # RFC 3834: auto-responders must not answer this, so no mail loop with a vacation reply.
    message["Auto-Submitted"] = "auto-generated"
    for name, value in _unsubscribe_headers(mail):
        message[name] = value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    for attachment in _attachments(mail):
        maintype, _, subtype = attachment.content_type.partition(";")[0].partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    raw = message.as_bytes()
    signer = dkim_signer()
    return signer.sign(raw) if signer else raw


def _attachments(mail: SystemMail) -> tuple[Attachment, ...]:
    """An event's registration mails carry its calendar entry, the invitation's own .ics."""
    if mail.kind not in (SystemMailKind.RSVP_CONFIRMED, SystemMailKind.RSVP_REMINDER):
        return ()
    campaign = db.session.get(Campaign, mail.data.get("campaign_id"))
    if campaign is None:
        return ()
    try:
        return event_invitation(campaign.id, dict(campaign.data or {}))
    except ValueError:  # checked when the campaign was made; the mail still goes without it
        return ()


def _unsubscribe_headers(mail: SystemMail) -> list[tuple[str, str]]:
    """RFC 8058 needs an https URL; a development server on plain http gets no header."""
    base = public_base_url()
    contact_id = _linked_contact(mail)
    if contact_id is None or not base.startswith("https://"):
        return []
    token = make_token(token_secret(), contact_id, None, "u")
    local, _, domain = profile().identity.unsubscribe_mailbox.partition("@")
    return [
        ("List-Unsubscribe", f"<{base}/u/{token}>, <mailto:{local}+{token}@{domain}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


def _linked_contact(mail: SystemMail) -> int | None:
    """A new address is not yet proven to be the contact's, an old one is no longer theirs:
    neither gets a link to the contact's pages."""
    elsewhere = (SystemMailKind.EMAIL_CHANGE, SystemMailKind.ADDRESS_CHANGED)
    return None if mail.kind in elsewhere else mail.contact_id


def _preferences_url(mail: SystemMail) -> str | None:
    contact_id = _linked_contact(mail)
    if contact_id is None:
        return None
    return f"{public_base_url()}/p/{make_token(token_secret(), contact_id, None, 'p')}"


def local_time(iso: str, time_zone: str | None, locale: str) -> str:
    """A stored UTC instant in the person's zone, the way people there write it."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = ZoneInfo(time_zone or profile().default_time_zone)
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    label = f"GMT{offset[:3]}:{offset[3:]}" if offset[3:] != "00" else f"GMT{int(offset[:3]):+d}"
    pattern = "%I:%M %p, %b %d, %Y" if locale == "en" else "%H:%M ngày %d/%m/%Y"
    return f"{local.strftime(pattern)} ({label})"


def local_day(iso: str, locale: str) -> str:
    """A calendar date as people write it: 06/12/2026 in Vietnamese, Dec 06, 2026 in English."""
    day = date.fromisoformat(iso)
    return day.strftime("%b %d, %Y") if locale == "en" else day.strftime("%d/%m/%Y")


@functools.cache
def _env() -> Environment:
    """Own environment: these mails are rendered by workers, outside any request."""
    return Environment(
        loader=FileSystemLoader(str(MAIL_DIR)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _due(now: datetime) -> ColumnElement[bool]:
    """A first try, a mail the recovery queued again, or a retry whose backoff has passed."""
    return or_(SystemMail.next_attempt_at.is_(None), SystemMail.next_attempt_at <= now)


def reconcile(now: datetime) -> int:
    """Retry mail a relay refused for now, and mail the recovery queued again (a worker died)."""
    due = list(
        db.session.scalars(
            select(SystemMail.id).where(SystemMail.status == SystemMailStatus.QUEUED, _due(now))
        )
    )
    # Claiming makes a duplicate job harmless; enqueue only when nothing is waiting already.
    if due and not queue(NOTICES).count:
        for mail_id in due:
            enqueue_after_commit(db.session(), NOTICES, SEND_JOB, mail_id)
    db.session.commit()
    return len(due)
