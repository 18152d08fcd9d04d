"""campaigns.local_send_at: a wall-clock time read in each recipient's zone; the deliveries'
claim index covers next_attempt_at (deliveries that wait for their moment are found by range)

Revision ID: d1a5f7c3e9b4
Revises: d8e2f4a6c1b3
Create Date: 2026-12-06 18:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd1a5f7c3e9b4'
down_revision = 'd8e2f4a6c1b3'
branch_labels = None
depends_on = None


def upgrade():
    # Plain statements, not batch mode: SQLite adds a column and indexes without rebuilding.
    op.add_column('campaigns', sa.Column('local_send_at', sa.DateTime(), nullable=True))
    op.create_index(
        'ix_deliveries_campaign_status_next',
        'deliveries',
        ['campaign_id', 'status', 'next_attempt_at'],
        unique=False,
    )
    op.drop_index('ix_deliveries_campaign_status', table_name='deliveries')


def downgrade():
    op.create_index(
        'ix_deliveries_campaign_status', 'deliveries', ['campaign_id', 'status'], unique=False
    )
    op.drop_index('ix_deliveries_campaign_status_next', table_name='deliveries')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('local_send_at')
