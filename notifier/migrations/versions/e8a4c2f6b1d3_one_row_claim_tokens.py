"""notices and system mail carry a claim token, so a late worker's result write is refused

Revision ID: e8a4c2f6b1d3
Revises: e8a4b6c2d1f3
Create Date: 2026-12-06 06:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8a4c2f6b1d3'
down_revision = 'e8a4b6c2d1f3'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('notices', 'system_mails'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('claim_token', sa.String(length=36), nullable=True))


def downgrade():
    for table in ('notices', 'system_mails'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('claim_token')
