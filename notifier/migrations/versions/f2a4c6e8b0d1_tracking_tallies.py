"""tracking_tallies, tracking_people, tracking_fold: the campaign page and the comparison read
running tallies of the events folded so far plus the few events above the fold's mark, instead
of counting every event (docs/tracking.md, "Tallies")

Revision ID: f2a4c6e8b0d1
Revises: e3b7d1f9a5c2
Create Date: 2026-12-07 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import notifier.models.types


# revision identifiers, used by Alembic.
revision = 'f2a4c6e8b0d1'
down_revision = 'e3b7d1f9a5c2'
branch_labels = None
depends_on = None

# The events held now and the days rolled up before this version, folded once; events recorded
# while this runs have ids above the mark and are read as the tail until the next fold.
SEED = (
    """INSERT INTO tracking_people (campaign_id, kind, contact_id, link, last_at)
    SELECT campaign_id, kind, contact_id, link, max(at) FROM tracking_events
    WHERE id <= :mark AND flags = 0 GROUP BY campaign_id, kind, contact_id, link""",
    """INSERT INTO tracking_tallies (campaign_id, kind, link, total, human, people)
    SELECT campaign_id, kind, link, sum(total), sum(human), sum(people) FROM (
      SELECT campaign_id, kind, link, count(*) AS total,
             sum(CASE WHEN flags = 0 THEN 1 ELSE 0 END) AS human,
             count(DISTINCT CASE WHEN flags = 0 THEN contact_id END) AS people
      FROM tracking_events WHERE id <= :mark GROUP BY campaign_id, kind, link
      UNION ALL
      SELECT campaign_id, kind, link, total, human, unique_human FROM tracking_daily
    ) AS folded GROUP BY campaign_id, kind, link""",
    """INSERT INTO tracking_tallies (campaign_id, kind, link, total, human, people)
    SELECT campaign_id, kind, -1, 0, 0, sum(people) FROM (
      SELECT campaign_id, kind, count(DISTINCT contact_id) AS people
      FROM tracking_events WHERE id <= :mark AND flags = 0 GROUP BY campaign_id, kind
      UNION ALL
      SELECT campaign_id, kind, sum(unique_human) FROM tracking_daily GROUP BY campaign_id, kind
    ) AS folded GROUP BY campaign_id, kind""",
    "INSERT INTO tracking_fold (id, last_event_id) VALUES (1, :mark)",
)


def upgrade():
    op.create_table(
        'tracking_tallies',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=1), nullable=False),
        sa.Column('link', sa.SmallInteger(), nullable=False),
        sa.Column('total', sa.BigInteger(), nullable=False),
        sa.Column('human', sa.BigInteger(), nullable=False),
        sa.Column('people', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', 'kind', 'link'),
    )
    op.create_table(
        'tracking_people',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=1), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('link', sa.SmallInteger(), nullable=False),
        sa.Column('last_at', notifier.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', 'kind', 'contact_id', 'link'),
    )
    op.create_index('ix_tracking_people_contact_id', 'tracking_people', ['contact_id'])
    op.create_index('ix_tracking_people_last_at', 'tracking_people', ['last_at'])
    op.create_table(
        'tracking_fold',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('last_event_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    bind = op.get_bind()
    mark = bind.execute(sa.text("SELECT coalesce(max(id), 0) FROM tracking_events")).scalar()
    for statement in SEED:
        bind.execute(sa.text(statement), {"mark": int(mark)})


def downgrade():
    op.drop_table('tracking_fold')
    op.drop_index('ix_tracking_people_last_at', table_name='tracking_people')
    op.drop_index('ix_tracking_people_contact_id', table_name='tracking_people')
    op.drop_table('tracking_people')
    op.drop_table('tracking_tallies')
