"""tracking: open and click events, their daily rollup, and whether a delivery was tracked

Revision ID: d8e2f4a6c1b3
Revises: c7d3e9a1f5b2
Create Date: 2026-12-06 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from notifier.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'd8e2f4a6c1b3'
down_revision = 'c7d3e9a1f5b2'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(
            sa.Column('tracking', sa.SmallInteger(), nullable=False, server_default='0')
        )
    op.create_table(
        'tracking_events',
        sa.Column('id', BigId, nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=1), nullable=False),
        sa.Column('link', sa.SmallInteger(), nullable=False),
        sa.Column('flags', sa.SmallInteger(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_tracking_events_campaign_kind', 'tracking_events', ['campaign_id', 'kind', 'link']
    )
    op.create_index('ix_tracking_events_contact_id', 'tracking_events', ['contact_id'])
    op.create_index('ix_tracking_events_at', 'tracking_events', ['at'])
    op.create_table(
        'tracking_daily',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('kind', sa.String(length=1), nullable=False),
        sa.Column('link', sa.SmallInteger(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('human', sa.Integer(), nullable=False),
        sa.Column('unique_human', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', 'day', 'kind', 'link'),
    )


def downgrade():
    op.drop_table('tracking_daily')
    op.drop_index('ix_tracking_events_at', table_name='tracking_events')
    op.drop_index('ix_tracking_events_contact_id', table_name='tracking_events')
    op.drop_index('ix_tracking_events_campaign_kind', table_name='tracking_events')
    op.drop_table('tracking_events')
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('tracking')
