"""Mirror the profile's purposes into the database so set-based SQL can join on them."""

from __future__ import annotations

from notifier.domain.profile import LOCALES, Profile, text_hash
from notifier.infra.extensions import db
from notifier.models import NoticeText, Purpose


def sync_purposes(profile: Profile) -> None:
    known = {p.key: p for p in db.session.scalars(db.select(Purpose))}
    for purpose in profile.purposes:
        row = known.pop(purpose.key, None) or Purpose(key=purpose.key)
        row.kind = purpose.kind.value
        row.legal_basis = purpose.legal_basis.value
        row.name_vi, row.name_en = purpose.name.vi, purpose.name.en
        row.notice_version = purpose.notice_version
        row.max_per_week = purpose.max_per_week
        row.active = True
        db.session.add(row)
        for locale in LOCALES:
            store_notice_text(purpose.notice.get(locale))
    for stale in known.values():
        # Kept, not deleted: the consent ledger still refers to it.
        stale.active = False
    db.session.flush()


def store_notice_text(text: str) -> str:
    digest = text_hash(text)
    if db.session.get(NoticeText, digest) is None:
        db.session.add(NoticeText(sha256=digest, text=text))
        db.session.flush()
    return digest
