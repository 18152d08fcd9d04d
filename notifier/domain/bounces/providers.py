"""Provider event bodies (Amazon SES, SendGrid, Mailgun) mapped onto the same Feedback."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from notifier.domain.bounces import mime
from notifier.domain.bounces.model import Feedback, Kind
from notifier.domain.bounces.status import classify_status, enhanced_code, redact

MAX_EVENTS = 1000  # per request; SendGrid batches, but never this many


class BadEvent(ValueError):
    """A body that does not have the shape the provider documents."""


@dataclass(frozen=True)
class ProviderEvent:
    event_id: str  # the provider's id: a retried delivery of the same event is applied once
    feedback: Feedback
    message_id: str | None  # our Message-ID, when the provider reports it
    return_path: str | None  # the envelope sender we used (VERP)


def ses_events(notification: Mapping[str, Any], sns_message_id: str) -> list[ProviderEvent]:
    """SES notifications (notificationType) and event publishing (eventType) alike."""
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = _mapping(notification.get("mail") or {}, "mail")
    message_id, return_path = _ses_ids(mail)
    events: list[ProviderEvent] = []
    if kind == "Bounce":
        bounce = _mapping(notification.get("bounce"), "bounce")
        permanent = bounce.get("bounceType") == "Permanent"
        for index, rcpt in enumerate(_list(bounce.get("bouncedRecipients"), "recipients")):
            rcpt = _mapping(rcpt, "bounced recipient")
            diagnostic = str(rcpt.get("diagnosticCode") or bounce.get("bounceSubType") or "")
            feedback = _bounce(rcpt.get("emailAddress"), rcpt.get("status"), diagnostic, permanent)
            events.append(ProviderEvent(f"{sns_message_id}:{index}", feedback, message_id,
                                        return_path))  # fmt: skip
    elif kind == "Complaint":
        complaint = _mapping(notification.get("complaint"), "complaint")
        feedback_type = str(complaint.get("complaintFeedbackType") or "abuse").lower()
        for index, rcpt in enumerate(_list(complaint.get("complainedRecipients"), "recipients")):
            rcpt = _mapping(rcpt, "complained recipient")
            feedback = _complaint(rcpt.get("emailAddress"), feedback_type, "amazon-ses")
            events.append(ProviderEvent(f"{sns_message_id}:{index}", feedback, message_id,
                                        return_path))  # fmt: skip
    return events


def _ses_ids(mail: Mapping[str, Any]) -> tuple[str | None, str | None]:
    headers = {
        str(h.get("name", "")).lower(): str(h.get("value", ""))
        for h in _list(mail.get("headers") or [], "headers")
        if isinstance(h, Mapping)
    }
    common = mail.get("commonHeaders")
    common_id = common.get("messageId") if isinstance(common, Mapping) else None
    message_id = mime.message_id(headers.get("message-id") or str(common_id or ""))
    source = mail.get("source")
    return message_id, source if isinstance(source, str) else None


def sendgrid_events(body: Any) -> list[ProviderEvent]:
    events: list[ProviderEvent] = []
    for item in _list(body, "events"):
        item = _mapping(item, "event")
        name, event_id = item.get("event"), item.get("sg_event_id")
        if not isinstance(event_id, str) or not event_id:
            raise BadEvent("event without sg_event_id")
        if name == "bounce":
            # SendGrid's "blocked" bounce type is a temporary refusal, "bounce" a permanent one.
            permanent = item.get("type", "bounce") == "bounce"
            feedback = _bounce(item.get("email"), item.get("status"), str(item.get("reason") or ""),
                               permanent)  # fmt: skip
        elif name == "spamreport":
            feedback = _complaint(item.get("email"), "abuse", "sendgrid")
        else:
            continue  # delivered, deferred, open, click, ...: nothing to act on
        message_id = mime.message_id(str(item.get("smtp-id") or ""))
        events.append(ProviderEvent(event_id, feedback, message_id, None))
    return events


def mailgun_event(data: Mapping[str, Any]) -> ProviderEvent | None:
    name, event_id = data.get("event"), data.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise BadEvent("event-data without an id")
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, Mapping) else None
    raw_id = headers.get("message-id") if isinstance(headers, Mapping) else None
    message_id = mime.message_id(str(raw_id or ""))
    envelope = data.get("envelope")
    sender = envelope.get("sender") if isinstance(envelope, Mapping) else None
    return_path = sender if isinstance(sender, str) else None
    if name == "complained":
        feedback = _complaint(data.get("recipient"), "abuse", "mailgun")
    elif name == "failed":
        if data.get("severity") != "permanent":
            return None  # Mailgun retries a temporary failure itself
        status = data.get("delivery-status")
        status = status if isinstance(status, Mapping) else {}
        diagnostic = " ".join(
            str(status.get(key) or "") for key in ("code", "message", "description")
        )
        feedback = _bounce(data.get("recipient"), status.get("enhanced-code"), diagnostic, True)
    else:
        return None
    return ProviderEvent(event_id, feedback, message_id, return_path)


def _bounce(recipient: object, status: object, diagnostic: str, permanent: bool) -> Feedback:
    code = enhanced_code(str(status or ""), diagnostic)
    kind, category, code = classify_status(code, diagnostic)
    if not permanent:
        kind = Kind.SOFT_BOUNCE  # the provider itself says a later try may pass
    elif kind is Kind.UNKNOWN or category == "unexplained":
        # The provider gave up for good and will not retry: trust it over missing words.
        kind, category = Kind.HARD_BOUNCE, "permanent"
    return Feedback(kind, _address(recipient), code, category, redact(diagnostic), "provider")


def _complaint(recipient: object, feedback_type: str, reporter: str) -> Feedback:
    kind = Kind.UNKNOWN if feedback_type == "not-spam" else Kind.COMPLAINT
    return Feedback(kind, _address(recipient), None, feedback_type[:32], "", reporter)


def _address(value: object) -> str:
    if not isinstance(value, str) or "@" not in value or len(value) > 254:
        raise BadEvent("recipient address missing")
    return value.strip().strip("<>").lower()


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadEvent(f"{what} is not an object")
    return value


def _list(value: object, what: str) -> Iterator[Any]:
    if not isinstance(value, list) or len(value) > MAX_EVENTS:
        raise BadEvent(f"{what} is not a list of at most {MAX_EVENTS}")
    return iter(value)
