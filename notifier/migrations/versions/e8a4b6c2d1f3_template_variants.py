"""template variants per locale: the single variant stays the Vietnamese one

Revision ID: e8a4b6c2d1f3
Revises: d5f1a7c3e9b2
Create Date: 2026-12-06 06:00:00.000000

The columns subject, body_mjml and text keep the Vietnamese variant (required); `variants`
holds the other locales' ({"en": {"subject", "body_mjml", "text"}}). A template written
bilingually with t("...", "...") spoke English to `en` contacts before this change, because it
was rendered in their locale; now a contact reads one variant in that variant's language, so
such a template gets an `en` variant with the same source and keeps speaking English.
"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8a4b6c2d1f3'
down_revision = 'd5f1a7c3e9b2'
branch_labels = None
depends_on = None

BILINGUAL = re.compile(r"\bt\s*\(")
TABLES = ('templates', 'template_versions')


def upgrade():
    for name in TABLES:
        with op.batch_alter_table(name) as batch_op:
            batch_op.add_column(
                sa.Column('variants', sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
            )
    connection = op.get_bind()
    for name in TABLES:
        table = sa.table(
            name,
            sa.column('id', sa.Integer()),
            sa.column('subject', sa.String()),
            sa.column('body_mjml', sa.Text()),
            sa.column('text', sa.Text()),
            sa.column('variants', sa.JSON()),
        )
        rows = connection.execute(
            sa.select(table.c.id, table.c.subject, table.c.body_mjml, table.c.text)
        ).all()
        for row in rows:
            parts = (row.subject or '', row.body_mjml or '', row.text or '')
            if any(BILINGUAL.search(part) for part in parts):
                english = {'subject': row.subject, 'body_mjml': row.body_mjml, 'text': row.text}
                connection.execute(
                    table.update().where(table.c.id == row.id).values(variants={'en': english})
                )


def downgrade():
    # The Vietnamese variant is where it always was; the other locales' are dropped.
    for name in TABLES:
        with op.batch_alter_table(name) as batch_op:
            batch_op.drop_column('variants')
