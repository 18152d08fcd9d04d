"""Every shipped notice type and system mail, per locale and profile, sent through the real
pipeline to a real SMTP server with its own sample data, in the sender's name.

(The built-in layouts have the same test in test_layout_sending.py.)
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask

from notifier.delivery import system_mail
from notifier.domain.profile import load_profile
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.infra.translations import pgettext
from notifier.models import Notice, SystemMailKind, utcnow
from notifier.notices import notices
from notifier.notices.types import shipped_samples, sync_notice_types
from tests.integration.helpers import committed, drain, make_contact
from tests.smtp_server import SmtpTestServer

ROOT = Path(__file__).resolve().parents[3]
PROFILES = ("dcnet", "caycanhhoanggia")
NOTICE_CASES = [
    (name, spec.key, locale)
    for name in PROFILES
    for spec in load_profile(ROOT / "config" / "profiles" / f"{name}.toml").notice_types
    for locale in ("vi", "en")
]
GREETING = {"vi": "Kính gửi", "en": "Dear"}
FOOTER = {"vi": "Đây là", "en": "This is"}  # the first words of the service footers


def received(server: SmtpTestServer) -> tuple[EmailMessage, str, str]:
    (message,) = server.messages
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return parsed, text, html  # type: ignore[return-value]


@pytest.mark.parametrize(("profile_name", "key", "locale"), NOTICE_CASES)
def test_each_shipped_notice_type_sends_its_sample(
    app: Flask, smtp: SmtpTestServer, profile_name: str, key: str, locale: str
) -> None:
    active = profile()
    with committed():
        sync_notice_types(active)
    spec = next(s for s in active.notice_types if s.key == key)
    contact_id = make_contact("khach@example.com", (), name="An", locale=locale)
    data = shipped_samples(spec, utcnow(), active.identity)[locale]
    fingerprint = notices.request_fingerprint(data)
    with committed():
        triggered = notices.trigger(key, contact_id, data, f"{key}-1", fingerprint)
    notice_id = triggered.notice.id
    drain(app)

    notice = db.session.get(Notice, notice_id)
    assert notice is not None and notice.status == "sent", (notice.status, notice.smtp_message)
    message, text, html = received(smtp)
    assert not str(message["Subject"]).startswith("[QC]")
    assert text.startswith(GREETING[locale]) and f'<html lang="{locale}"' in html
    assert FOOTER[locale] in text
    identity = active.identity
    for part in (text, html):
        assert identity.company in part and identity.phone in part
    other = next(name for name in PROFILES if name != profile_name)
    assert load_profile(ROOT / "config" / "profiles" / f"{other}.toml").identity.website not in html


MAIL_CASES = [
    (name, kind, locale) for name in PROFILES for kind in SystemMailKind for locale in ("vi", "en")
]


@pytest.mark.parametrize(("profile_name", "kind", "locale"), MAIL_CASES)
def test_each_system_mail_sends_its_sample(
    app: Flask, smtp: SmtpTestServer, profile_name: str, kind: SystemMailKind, locale: str
) -> None:
    active = profile()
    contact_id = make_contact("khach@example.com", (), name="An", locale=locale)
    data = system_mail.mail_samples(kind, utcnow(), active)[locale]
    with committed():
        mail = system_mail.queue_mail(
            kind, "khach@example.com", locale, data, contact_id=contact_id
        )
    assert system_mail.send(mail.id) == "sent"

    message, text, html = received(smtp)
    # The subject is the catalog's text of the kind in the mail's language, never its msgid.
    context, english = system_mail.SUBJECTS[kind]
    assert str(message["Subject"]) == pgettext(locale, context, english)
    if locale == "vi" and kind is not SystemMailKind.REFUSAL_CHECK:  # that one is bilingual
        assert str(message["Subject"]) != english
    assert message["Auto-Submitted"] == "auto-generated"
    assert f'<html lang="{locale}"' in html
    identity = active.identity
    for part in (text, html):
        assert identity.company in part and identity.phone in part
    if "link" in data:
        assert data["link"] in text
    if kind is not SystemMailKind.REFUSAL_CHECK:  # that one asks in both languages on purpose
        assert FOOTER[locale] in text and FOOTER["en" if locale == "vi" else "vi"] not in text
