"""saved dynamic segments; trigram indexes for contact search on PostgreSQL

Revision ID: f3b9d2a7c5e1
Revises: e8a4c2f6b1d3
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from notifier.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'f3b9d2a7c5e1'
down_revision = 'e8a4c2f6b1d3'
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
    # Contact search is a substring match on lower(email) and lower(name)
    # (contacts/directory.py): at a million contacts only a trigram index answers it quickly.
    # SQLite keeps its LIKE scan.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute(
            'CREATE INDEX ix_contacts_email_trgm ON contacts USING gin (lower(email) gin_trgm_ops)'
        )
        op.execute('CREATE INDEX ix_contacts_name_trgm ON contacts USING gin (lower(name) gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_contacts_name_trgm')
        op.execute('DROP INDEX IF EXISTS ix_contacts_email_trgm')
    op.drop_table('segments')
