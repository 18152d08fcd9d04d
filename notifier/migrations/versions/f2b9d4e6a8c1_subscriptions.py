"""subscriptions: the services each contact holds, for per-recipient renewal data

Revision ID: f2b9d4e6a8c1
Revises: f1c7d3a9b5e2
Create Date: 2026-12-06 09:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

from notifier.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'f2b9d4e6a8c1'
down_revision = 'f1c7d3a9b5e2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('external_id', sa.String(length=100), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('plan', sa.String(length=100), nullable=False),
        sa.Column('expires_on', sa.Date(), nullable=True),
        sa.Column('amount', sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column('renewal_url', sa.String(length=2000), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attributes', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source', 'external_id', name='uq_subscriptions_source_external_id'),
    )
    op.create_index('ix_subscriptions_contact_id', 'subscriptions', ['contact_id'])
    op.create_index(
        'ix_subscriptions_status_expires_on', 'subscriptions', ['status', 'expires_on']
    )


def downgrade():
    op.drop_index('ix_subscriptions_status_expires_on', table_name='subscriptions')
    op.drop_index('ix_subscriptions_contact_id', table_name='subscriptions')
    op.drop_table('subscriptions')
