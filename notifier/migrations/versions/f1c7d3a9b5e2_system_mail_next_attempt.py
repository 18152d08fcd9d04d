"""system mail waits for its retry as notices and campaign mail do: next_attempt_at

Revision ID: f1c7d3a9b5e2
Revises: e8a4c2f6b1d3
Create Date: 2026-12-06 09:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

import notifier.models.types


# revision identifiers, used by Alembic.
revision = 'f1c7d3a9b5e2'
down_revision = 'e8a4c2f6b1d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('system_mails') as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', notifier.models.types.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('system_mails') as batch_op:
        batch_op.drop_column('next_attempt_at')
