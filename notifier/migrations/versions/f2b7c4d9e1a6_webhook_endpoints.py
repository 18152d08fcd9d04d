"""webhook endpoints, the event outbox and its deliveries

Replaces the notice-only webhook_events table (one URL from the settings) with endpoints staff
configure, an outbox of events with UUIDs, and one delivery row per (endpoint, event). Events
still pending in the old table had no endpoint of their own and are dropped with it.

Revision ID: f2b7c4d9e1a6
Revises: f2b9d4e6a8c1
Create Date: 2026-12-06 09:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

import notifier.models.types


# revision identifiers, used by Alembic.
revision = 'f2b7c4d9e1a6'
down_revision = 'f2b9d4e6a8c1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_events_status_next')
    op.drop_table('webhook_events')

    op.create_table('webhook_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_note', sa.String(length=500), nullable=False),
    sa.Column('failing_since', notifier.models.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', notifier.models.types.UTCDateTime(), nullable=False),
    sa.Column('secret_rotated_at', notifier.models.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_table('webhook_events',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', notifier.models.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', notifier.models.types.UTCDateTime(), nullable=True),
    sa.Column('claimed_until', notifier.models.types.UTCDateTime(), nullable=True),
    sa.Column('last_attempt_at', notifier.models.types.UTCDateTime(), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_response', sa.String(length=500), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('delivered_at', notifier.models.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', notifier.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints')),
    sa.ForeignKeyConstraint(['event_id'], ['webhook_events.id'], name=op.f('fk_webhook_deliveries_event_id_webhook_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('endpoint_id', 'event_id', name=op.f('uq_webhook_deliveries_endpoint_id_event_id'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_status_next', ['status', 'next_attempt_at'], unique=False)


def downgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_status_next')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_events')
    op.drop_table('webhook_endpoints')

    op.create_table('webhook_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', notifier.models.types.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('created_at', notifier.models.types.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', notifier.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_webhook_events_notice_id_notices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events'))
    )
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_events_status_next', ['status', 'next_attempt_at'], unique=False)
