"""tracking_events: an index by campaign, kind and time that covers the charts' grouping

Revision ID: e5c1a9d7b3f2
Revises: d1a5f7c3e9b4
Create Date: 2026-12-07 04:50:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5c1a9d7b3f2'
down_revision = 'd1a5f7c3e9b4'
branch_labels = None
depends_on = None


def upgrade():
    # Every column the charts' query reads, so PostgreSQL answers from the index alone
    # (docs/tracking.md, "Charts over time").
    op.create_index(
        'ix_tracking_events_campaign_kind_at',
        'tracking_events',
        ['campaign_id', 'kind', 'at', 'flags', 'contact_id'],
    )


def downgrade():
    op.drop_index('ix_tracking_events_campaign_kind_at', table_name='tracking_events')
