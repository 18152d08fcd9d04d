"""reminders: a schedule per notice type, and the ledger of reminders (once per step)

Revision ID: a4c8e2f6b1d3
Revises: f3b9d2a7c5e1
Create Date: 2026-12-06 12:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

from notifier.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'a4c8e2f6b1d3'
down_revision = 'f3b9d2a7c5e1'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'reminder_schedules',
        sa.Column('notice_type', sa.String(length=64), nullable=False),
        sa.Column('steps', sa.JSON(), nullable=False),
        sa.Column('local_hour', sa.Integer(), nullable=False),
        sa.Column('paused', sa.Boolean(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['notice_type'], ['notice_types.key'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('notice_type'),
    )
    op.create_table(
        'reminders',
        sa.Column('id', BigId, nullable=False),
        sa.Column('notice_type', sa.String(length=64), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('expires_on', sa.Date(), nullable=False),
        sa.Column('step', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=True),
        sa.Column('notice_id', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['notice_type'], ['notice_types.key'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint(
            'notice_type', 'subscription_id', 'expires_on', 'step', name='uq_reminders_once'
        ),
    )
    op.create_index('ix_reminders_status_expires_on', 'reminders', ['status', 'expires_on'])
    op.create_index('ix_reminders_subscription_id', 'reminders', ['subscription_id'])
    op.create_index('ix_reminders_notice_id', 'reminders', ['notice_id'])


def downgrade():
    op.drop_index('ix_reminders_notice_id', table_name='reminders')
    op.drop_index('ix_reminders_subscription_id', table_name='reminders')
    op.drop_index('ix_reminders_status_expires_on', table_name='reminders')
    op.drop_table('reminders')
    op.drop_table('reminder_schedules')
