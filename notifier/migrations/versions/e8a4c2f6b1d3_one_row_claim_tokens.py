"""notices and system mail carry a claim token, so a late worker's result write is refused

Revision ID: e8a4c2f6b1d3
Revises: d5f1a7c3e9b2
Create Date: 2026-12-06 06:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8a4c2f6b1d3'
down_revision = 'd5f1a7c3e9b2'
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
