"""saved dynamic segments; trigram indexes for contact search on PostgreSQL

Revision ID: f3b9d2a7c5e1
Revises: f2b7c4d9e1a6
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from notifier.models.types import UTCDateTime

# Written out, not imported: a migration must not change when the code's list does.
SEARCHABLE = ('name', 'email', 'phone', 'address', 'organisation', 'external_ref')


# revision identifiers, used by Alembic.
revision = 'f3b9d2a7c5e1'
down_revision = 'f2b7c4d9e1a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'segments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('definition', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['created_by'], ['staff_users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    # Contact search is a substring match, lower(column) LIKE '%...%', over each column the
    # role may see (contacts/directory.py, operations/access.py SEARCHABLE): at a million
    # contacts only trigram indexes on each of them answer it quickly. SQLite keeps its scan.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for column in SEARCHABLE:
            op.execute(
                f'CREATE INDEX ix_contacts_{column}_trgm ON contacts '
                f'USING gin (lower({column}) gin_trgm_ops)'
            )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for column in SEARCHABLE:
            op.execute(f'DROP INDEX IF EXISTS ix_contacts_{column}_trgm')
    op.drop_table('segments')
