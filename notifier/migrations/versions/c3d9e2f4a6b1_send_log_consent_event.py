"""send_log remembers the consent event that authorised a reservation

The send loop now writes a delivery's consent event with its outcome (one row write fewer per
message); if the worker dies first, the recovery takes the event from the reservation.

Revision ID: c3d9e2f4a6b1
Revises: b7e3f1a2c9d4
Create Date: 2026-11-23 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3d9e2f4a6b1'
down_revision = 'b7e3f1a2c9d4'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('send_log') as batch_op:
        batch_op.add_column(sa.Column('consent_event_id', BIG_ID, nullable=True))


def downgrade():
    with op.batch_alter_table('send_log') as batch_op:
        batch_op.drop_column('consent_event_id')
