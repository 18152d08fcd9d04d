"""rsvps: registrations for event campaigns (once per campaign and contact)

Revision ID: c7d3e9a1f5b2
Revises: c6e1a3f5b7d9
Create Date: 2026-12-06 15:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

from notifier.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'c7d3e9a1f5b2'
down_revision = 'c6e1a3f5b7d9'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'rsvps',
        sa.Column('id', BigId, nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('event_starts_at', UTCDateTime(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('cancelled_at', UTCDateTime(), nullable=True),
        sa.Column('reminded_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('campaign_id', 'contact_id', name='uq_rsvps_once'),
    )
    op.create_index(
        'ix_rsvps_reminded_at_event_starts_at', 'rsvps', ['reminded_at', 'event_starts_at']
    )
    op.create_index('ix_rsvps_contact_id', 'rsvps', ['contact_id'])


def downgrade():
    op.drop_index('ix_rsvps_contact_id', table_name='rsvps')
    op.drop_index('ix_rsvps_reminded_at_event_starts_at', table_name='rsvps')
    op.drop_table('rsvps')
