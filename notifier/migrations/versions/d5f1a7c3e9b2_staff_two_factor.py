"""staff two-factor sign-in: TOTP columns and one-time recovery codes

Revision ID: d5f1a7c3e9b2
Revises: c3d9e2f4a6b1
Create Date: 2026-11-26 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import notifier.models.types


# revision identifiers, used by Alembic.
revision = 'd5f1a7c3e9b2'
down_revision = 'c3d9e2f4a6b1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff_users') as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column('totp_enrolled_at', notifier.models.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
    op.create_table('staff_recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=200), nullable=False),
    sa.Column('used_at', notifier.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_staff_recovery_codes_staff_id', 'staff_recovery_codes', ['staff_id'], unique=False)


def downgrade():
    op.drop_index('ix_staff_recovery_codes_staff_id', table_name='staff_recovery_codes')
    op.drop_table('staff_recovery_codes')
    with op.batch_alter_table('staff_users') as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enrolled_at')
        batch_op.drop_column('totp_secret')
