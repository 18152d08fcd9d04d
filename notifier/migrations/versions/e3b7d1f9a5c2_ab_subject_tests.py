"""A/B subject tests: the test's settings, due time and winner on the campaign; the subject
variant each person got on their delivery row (docs/ab-tests.md)

Revision ID: e3b7d1f9a5c2
Revises: e4c8a2f6b1d9
Create Date: 2026-12-07 04:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

import notifier.models.types


# revision identifiers, used by Alembic.
revision = 'e3b7d1f9a5c2'
down_revision = 'e4c8a2f6b1d9'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable columns only: SQLite adds them without rebuilding the tables.
    op.add_column('campaigns', sa.Column('ab_test', sa.JSON(), nullable=True))
    op.add_column(
        'campaigns',
        sa.Column('ab_decide_at', notifier.models.types.UTCDateTime(), nullable=True),
    )
    op.add_column('campaigns', sa.Column('ab_winner', sa.SmallInteger(), nullable=True))
    op.add_column('deliveries', sa.Column('variant', sa.SmallInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('variant')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('ab_winner')
        batch_op.drop_column('ab_decide_at')
        batch_op.drop_column('ab_test')
