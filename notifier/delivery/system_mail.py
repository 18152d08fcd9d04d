"""Service mail to contacts (confirmations, acknowledgements): queued with the change, sent once."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select

from notifier.delivery.composer import dkim_signer, envelope_sender
from notifier.delivery.sending import retry_policy, verdict_on
from notifier.delivery.single import claim, send_one, still_ours
from notifier.domain.send_outcome import Fate, SendResult
from notifier.domain.tokens import make_token
from notifier.infra.config import ROOT
from notifier.infra.context import profile, public_base_url, token_secret
from notifier.infra.extensions import db
from notifier.infra.queues import NOTICES, enqueue_after_commit, queue
from notifier.mail.message import message_id_of, new_message_id
from notifier.models import (
    PrivacyRequest,
    PrivacyRequestStatus,
    SystemMail,
    SystemMailKind,
    SystemMailStatus,
    utcnow,
)

SEND_JOB = "workers.jobs.send_system_mail"
# Confirmation links are secrets: they stay in the row only until the mail has left.
SECRET_KEYS = frozenset({"link"})
SUBJECTS = {
    SystemMailKind.REFUSAL: ("Xác nhận từ chối nhận email", "Confirmation of your refusal"),
    SystemMailKind.OPT_IN: ("Xác nhận đăng ký nhận email", "Please confirm your subscription"),
    SystemMailKind.PRIVACY_ACK: (
        "Đã nhận yêu cầu về dữ liệu cá nhân",
        "We received your personal data request",
    ),
    SystemMailKind.EMAIL_CHANGE: ("Xác nhận địa chỉ email mới", "Confirm your new email address"),
    # Both languages: the person may never have told us theirs, and the question must be understood.
    SystemMailKind.REFUSAL_CHECK: (
        "Bạn muốn ngừng nhận email quảng cáo? / Did you ask to stop our advertising?",
    )
    * 2,
    SystemMailKind.VERIFY: ("Xác minh đó là bạn", "Verify it is you"),
    SystemMailKind.PREFERENCES_LINK: ("Liên kết tới trang tùy chọn", "Your preferences link"),
    SystemMailKind.ADDRESS_CHANGED: (
        "Địa chỉ email của bạn đã được thay đổi",
        "Your email address was changed",
    ),
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
    token = claim(SystemMail, mail_id, SystemMailStatus.QUEUED, SystemMailStatus.SENDING, utcnow())
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
    result = send_one(envelope_sender(), mail.to_address, message)
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
    # A retry stays queued; `reconcile` sends it again when the policy's wait has passed.
    status = SystemMailStatus.QUEUED if verdict.fate is Fate.RETRY else SystemMailStatus.FAILED
    return _finish(mail, status, error)


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


def build_message(mail: SystemMail) -> bytes:
    identity = profile().identity
    kind = SystemMailKind(mail.kind)
    context = _context(mail)
    vi, en = SUBJECTS[kind]
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(identity.from_name, addr_spec=identity.from_address)
    message["To"] = mail.to_address
    message["Subject"] = en if mail.locale == "en" else vi
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = new_message_id(f"s{mail.id}", identity.from_address.rpartition("@")[2])
    # RFC 3834: auto-responders must not answer this, so no mail loop with a vacation reply.
    message["Auto-Submitted"] = "auto-generated"
    for name, value in _unsubscribe_headers(mail):
        message[name] = value
    message.set_content(_env().get_template(f"{kind.value}.txt").render(context))
    message.add_alternative(
        _env().get_template(f"{kind.value}.html").render(context), subtype="html"
    )
    raw = message.as_bytes()
    signer = dkim_signer()
    return signer.sign(raw) if signer else raw


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


def _context(mail: SystemMail) -> dict[str, Any]:
    active = profile()
    locale = mail.locale
    base = public_base_url()
    preferences = None
    contact_id = _linked_contact(mail)
    if contact_id is not None:
        preferences = f"{base}/p/{make_token(token_secret(), contact_id, None, 'p')}"
    return {
        **mail.data,
        "locale": locale,
        "t": lambda vi, en: en if locale == "en" else vi,
        "when": lambda iso: local_time(iso, mail.data.get("time_zone"), locale),
        "identity": active.identity,
        "preferences_url": preferences,
    }


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


@functools.cache
def _env() -> Environment:
    """Own environment: these mails are rendered by workers, outside any request."""
    return Environment(
        loader=FileSystemLoader(str(ROOT / "templates" / "public" / "mail")),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def reconcile(now: datetime) -> int:
    """Retry mail a relay refused for now, and mail the recovery queued again (a worker died)."""
    policy = retry_policy()
    due = [
        mail.id
        for mail in db.session.scalars(
            select(SystemMail).where(SystemMail.status == SystemMailStatus.QUEUED)
        )
        # A first try has no claim yet; later ones wait, doubling each time, like campaign mail.
        if mail.claimed_at is None or mail.claimed_at + policy.wait(mail.attempts) <= now
    ]
    # Claiming makes a duplicate job harmless; enqueue only when nothing is waiting already.
    if due and not queue(NOTICES).count:
        for mail_id in due:
            enqueue_after_commit(db.session(), NOTICES, SEND_JOB, mail_id)
    db.session.commit()
    return len(due)
