"""mail feedback (bounces, complaints) and soft-bounce scores

Revision ID: b7e3f1a2c9d4
Revises: a4c1e9d20b57
Create Date: 2026-11-25 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import notifier.models.types


# revision identifiers, used by Alembic.
revision = 'b7e3f1a2c9d4'
down_revision = 'a4c1e9d20b57'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('mail_feedback',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('event_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('delivery_id', BIG_ID, nullable=True),
    sa.Column('notice_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('address_hash', sa.String(length=64), nullable=True),
    sa.Column('status_code', sa.String(length=16), nullable=True),
    sa.Column('diagnostic', sa.String(length=300), nullable=False),
    sa.Column('reporter', sa.String(length=100), nullable=False),
    sa.Column('received_at', notifier.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_mail_feedback_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_mail_feedback_delivery_id_deliveries')),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_mail_feedback_notice_id_notices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_feedback')),
    sa.UniqueConstraint('event_key', name=op.f('uq_mail_feedback_event_key'))
    )
    with op.batch_alter_table('mail_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_mail_feedback_campaign_kind', ['campaign_id', 'kind'], unique=False)
        batch_op.create_index('ix_mail_feedback_received', ['received_at'], unique=False)

    op.create_table('bounce_scores',
    sa.Column('address_hash', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('bounces', sa.Integer(), nullable=False),
    sa.Column('updated_at', notifier.models.types.UTCDateTime(), nullable=False),
    sa.Column('last', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('address_hash', name=op.f('pk_bounce_scores'))
    )


def downgrade():
    op.drop_table('bounce_scores')
    with op.batch_alter_table('mail_feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_feedback_received')
        batch_op.drop_index('ix_mail_feedback_campaign_kind')

    op.drop_table('mail_feedback')
