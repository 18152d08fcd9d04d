"""retention notices: once per (contact, contract end date); the index the retention rounds use

Revision ID: c6e1a3f5b7d9
Revises: a4c8e2f6b1d3
Create Date: 2026-12-06 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from notifier.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'c6e1a3f5b7d9'
down_revision = 'a4c8e2f6b1d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'retention_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('contract_ends_on', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('system_mail_id', sa.Integer(), nullable=True),
        sa.Column('erasure_on', sa.Date(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['system_mail_id'], ['system_mails.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('contact_id', 'contract_ends_on', name='uq_retention_notices_once'),
    )
    op.create_index(
        'ix_retention_notices_system_mail_id', 'retention_notices', ['system_mail_id']
    )
    op.create_index('ix_contacts_contract_ends_on', 'contacts', ['contract_ends_on'])


def downgrade():
    op.drop_index('ix_contacts_contract_ends_on', table_name='contacts')
    op.drop_index('ix_retention_notices_system_mail_id', table_name='retention_notices')
    op.drop_table('retention_notices')
