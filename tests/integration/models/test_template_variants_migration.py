"""The migration to template variants carries every existing template over, on SQLite and
PostgreSQL: its single variant becomes the Vietnamese one; a bilingual one (written with t())
keeps speaking English to `en` contacts through an `en` variant with the same source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from notifier import create_app
from notifier.contacts.purposes import sync_purposes
from notifier.domain.locales import Variant
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import Template, TemplateVersion, utcnow
from tests.conftest import POSTGRES, _config, _create_database_if_missing

BEFORE = "d5f1a7c3e9b2"  # the last revision with one variant per template
PLAIN = Variant("Ưu đãi cho {{ contact_name }}", "<mjml><mj-body></mj-body></mjml>", "Xin chào")
BILINGUAL = Variant('{{ t("Ưu đãi", "Offer") }}', "<mjml><mj-body></mj-body></mjml>", None)


@pytest.fixture
def fresh_app(tmp_path: Path, redis_url: str) -> Iterator[Flask]:
    """An empty database of its own: the tests' shared one is already at the head revision."""
    if POSTGRES:
        import os

        url = os.environ["DATABASE_URL"].rstrip("/") + "_migration"
        _create_database_if_missing(url)
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'migration.sqlite3'}"
    app = create_app(_config(url, redis_url, "dcnet"))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _insert(table: str, variant: Variant, **columns: object) -> None:
    now = utcnow()
    target = sa.table(
        table, *(sa.column(name) for name in ("subject", "body_mjml", "text", *columns)),
        *(sa.column(name, Template.__table__.c.created_at.type) for name in _times(table)),
    )  # fmt: skip
    stamps = dict.fromkeys(_times(table), now)
    db.session.execute(
        target.insert().values(
            subject=variant.subject, body_mjml=variant.body_mjml, text=variant.text,
            **columns, **stamps,
        )
    )  # fmt: skip


def _times(table: str) -> tuple[str, ...]:
    return ("created_at", "updated_at") if table == "templates" else ("saved_at",)


def test_the_single_variant_becomes_vietnamese_and_bilingual_ones_keep_english(
    fresh_app: Flask,
) -> None:
    directory = fresh_app.extensions["migrate"].directory
    upgrade(directory=directory, revision=BEFORE)
    sync_purposes(profile())
    for number, variant in enumerate((PLAIN, BILINGUAL), start=1):
        _insert("templates", variant, id=number, name=f"t{number}", kind="promotion",
                purpose_key="promotions", version=1)  # fmt: skip
        _insert("template_versions", variant, id=number, template_id=number, version=1)
    db.session.commit()

    upgrade(directory=directory)
    db.session.expire_all()
    plain, bilingual = (db.session.get(Template, n) for n in (1, 2))
    assert plain is not None and bilingual is not None
    assert plain.sources() == (("vi", PLAIN),)
    assert bilingual.sources() == (("vi", BILINGUAL), ("en", BILINGUAL))
    kept = {v.template_id: v.sources() for v in db.session.scalars(sa.select(TemplateVersion))}
    assert kept == {1: (("vi", PLAIN),), 2: (("vi", BILINGUAL), ("en", BILINGUAL))}
    db.session.commit()

    # And back: the Vietnamese variant is where it always was.
    downgrade(directory=directory, revision=BEFORE)
    row = db.session.execute(sa.text("SELECT subject, body_mjml, text FROM templates WHERE id = 1"))
    assert tuple(row.one()) == (PLAIN.subject, PLAIN.body_mjml, PLAIN.text)
    db.session.commit()
    upgrade(directory=directory)
