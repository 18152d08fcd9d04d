"""Open and click events of tracked campaign mail, their running tallies and daily rollup
(docs/tracking.md)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from notifier.infra.extensions import db
from notifier.models.sending import BigId
from notifier.models.types import UTCDateTime


class TrackingEvent(db.Model):  # type: ignore[name-defined]
    """One open or click: ids, a kind, a link index, a time and flags; no address, no agent.
    Erased with the person; older than the retention period, rolled up and deleted."""

    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(1))  # "c" click, "o" open (domain/tokens.py)
    link: Mapped[int] = mapped_column(SmallInteger)  # the link's place in the message; 0: open
    flags: Mapped[int] = mapped_column(SmallInteger)  # SCANNER | MPP (domain/tracking.py)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # Every column the campaign page's counts, its charts over time and the comparison read,
        # so each is an index-only scan of one campaign's range (10,000,000 events:
        # bench/tracking_redirect.py, bench/engagement_charts.py). One index, not one per page:
        # each costs every recorded event a write.
        Index(
            "ix_tracking_events_campaign",
            *("campaign_id", "kind", "flags", "contact_id", "link", "at"),
        ),
        Index("ix_tracking_events_contact_id", "contact_id"),
        Index("ix_tracking_events_at", "at"),
    )


class TrackingDaily(db.Model):  # type: ignore[name-defined]
    """Events past the retention period, per campaign, day, kind and link: counts only."""

    __tablename__ = "tracking_daily"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    link: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    total: Mapped[int] = mapped_column(Integer)  # every event, machines' too
    human: Mapped[int] = mapped_column(Integer)  # events with no flag
    unique_human: Mapped[int] = mapped_column(Integer)  # people with an unflagged event that day


# TrackingTally.link of the row that counts people across all the campaign's links of a kind.
ALL_LINKS = -1


class TrackingTally(db.Model):  # type: ignore[name-defined]
    """The events folded so far (campaigns/engagement_tallies.py), per campaign, kind and link:
    counts only, kept for the campaign's life. `people` counts each person the first time one of
    their unflagged events is folded; on the ALL_LINKS row, once across the kind's links."""

    __tablename__ = "tracking_tallies"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    link: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)  # every event, machines' too
    human: Mapped[int] = mapped_column(BigInteger, default=0)  # events with no flag
    people: Mapped[int] = mapped_column(BigInteger, default=0)


class TrackingPerson(db.Model):  # type: ignore[name-defined]
    """Who has been counted in a tally: one row per campaign, kind, person and link, so a
    person's second click is not counted as a new person. It names the person: erased with
    them, and dropped once their last event of it is past the retention period."""

    __tablename__ = "tracking_people"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    link: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_tracking_people_contact_id", "contact_id"),
        Index("ix_tracking_people_last_at", "last_at"),
    )


class TrackingFold(db.Model):  # type: ignore[name-defined]
    """One row: the highest tracking_events id folded into the tallies. Readers add the events
    above it; the fold holds the row (FOR UPDATE) while it moves it."""

    __tablename__ = "tracking_fold"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
