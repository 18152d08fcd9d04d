"""A segment means one thing: the SQL that counts and plans it selects exactly the contacts the
plain-Python reading (domain.segments.matches) accepts, for hypothesis-generated trees over a
population built to sit on every edge (missing, odd and boundary values; people's and machines'
opens and clicks of every age, mail with and without the pixel), on SQLite and on PostgreSQL
(DATABASE_URL)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from notifier.campaigns import segments as segment_cases
from notifier.contacts import consent_ledger as consent
from notifier.domain import segments
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import (
    ConsentSource,
    ConsentState,
    Contact,
    ContactTag,
    Delivery,
    DeliveryStatus,
    Subscription,
    TrackingEvent,
)
from tests.integration.helpers import (
    committed,
    make_contact,
    promotion_campaigns,
    web_grant,
)

TAGS = ("vip", "Vip", "hà nội", "b2b")
TEXTS = ("an", "An", "Nguyễn", "nguyễn", "a%", "_", "x'; DROP TABLE contacts; --", "@ex")
NUMBERS = ("12", "12.5", "-3", "0", "007", "1e3", " 12", "12.", ".5", "1.2.3", "abc", "-", "")
DATES = ("2026-01-15", "2026-1-5", "2025-12-31", "2026-02-30", "soon", "2026-01-15T00:00")
BASE = datetime(2026, 1, 10, tzinfo=UTC)
# Engagement is read at NOW, with the default retention (90 days): ages straddle both the
# conditions' day counts and the retention, a second either side.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HORIZON = segments.Horizon.at(NOW, 90)
AGES = (0.5, 1, 7, 30, 60, 89, 90, 91, 200)
DAYS = (1, 7, 30, 60, 90)
SUBSCRIPTION_KINDS = ("domain", "hosting", "ssl")
# Expiry days a day either side of each condition's edges, read on HORIZON.today.
EXPIRIES = (
    None,
    *(HORIZON.today + timedelta(days=n) for n in (-91, -31, -30, -8, -7, -1, 0, 1, 7, 30, 31)),
)


def _ago(rng: random.Random) -> datetime:
    return NOW - timedelta(days=rng.choice(AGES), seconds=rng.choice((-1, 0, 0, 1)))


def _population(rng: random.Random, campaign_ids: list[int]) -> None:
    names = ("", "An", "Nguyễn Văn An", "an nguyen", "Bình", "a%b_c")
    for index in range(48):
        locale = rng.choice(("vi", "en"))
        attributes: dict[str, Any] = {}
        for key, pool in (("city", TEXTS), ("score", NUMBERS), ("renew", DATES)):
            roll = rng.random()
            if roll < 0.7:
                attributes[key] = rng.choice(pool)
            elif roll < 0.8:
                attributes[key] = rng.choice((12, -3, 0, 7))
        contact_id = make_contact(
            f"{rng.choice(('an', 'binh', 'An.x'))}{index}@{rng.choice(('ex.vn', 'example.com'))}",
            name=rng.choice(names),
            locale=locale,
            attributes=attributes,
        )
        with committed():
            contact = db.session.get(Contact, contact_id)
            assert contact is not None
            # Half days and a second either side of midnight: the day boundaries are the edges.
            # The first thirteen sit exactly on every half day from three days before BASE on.
            contact.created_at = BASE + timedelta(
                hours=(index - 6 if index < 13 else rng.randrange(-6, 7)) * 12,
                seconds=0 if index < 13 else rng.choice((0, -1, 1)),
            )
            for tag in rng.sample(TAGS, rng.randrange(0, 3)):
                db.session.add(ContactTag(contact_id=contact_id, tag=tag))
            for campaign_id in campaign_ids:
                status = rng.choice([*list(DeliveryStatus), *[DeliveryStatus.SENT] * 4, None])
                if status is not None:
                    db.session.add(
                        Delivery(
                            campaign_id=campaign_id,
                            contact_id=contact_id,
                            status=status,
                            tracking=rng.choice((0, 1, 2, 3, 2, 3)),
                            sent_at=None if rng.random() < 0.1 else _ago(rng),
                        )
                    )
                for _ in range(rng.choice((0, 0, 1, 2, 3))):
                    db.session.add(
                        TrackingEvent(
                            campaign_id=campaign_id,
                            contact_id=contact_id,
                            kind=rng.choice(("o", "c")),
                            link=0,
                            flags=rng.choice((0, 0, 0, 1, 2, 3)),
                            at=_ago(rng),
                        )
                    )
        state = rng.choice(("none", "granted", "withdrawn", "pending"))
        if state == "pending":
            version = profile().purpose("promotions").notice_version
            with committed():
                consent.request_confirmation(
                    contact_id,
                    "promotions",
                    consent.Evidence(ConsentSource.WEB_FORM, notice_version=version, ip="1.2.3.4"),
                )
        elif state in ("granted", "withdrawn"):
            web_grant(contact_id, "promotions")
        if state == "withdrawn":
            with committed():
                consent.withdraw(
                    contact_id, ["promotions"], consent.Evidence(ConsentSource.ONE_CLICK)
                )
        if rng.random() < 0.3:
            web_grant(contact_id, "events")
        # Their own draws, so the other facts stay those the edges above were tuned on.
        held = random.Random(contact_id * 7919)
        with committed():
            for n in range(held.choice((0, 0, 1, 2))):
                db.session.add(
                    Subscription(
                        source="billing", external_id=f"{contact_id}-{n}", contact_id=contact_id,
                        kind=held.choice(SUBSCRIPTION_KINDS), name="dịch vụ",
                        status=held.choice(("active", "active", "expired", "renewed", "cancelled")),
                        expires_on=held.choice(EXPIRIES),
                    )
                )  # fmt: skip


def _facts() -> dict[int, segments.ContactFacts]:
    tags: dict[int, set[str]] = defaultdict(set)
    for cid, tag in db.session.execute(select(ContactTag.contact_id, ContactTag.tag)):
        tags[cid].add(tag)
    states: dict[int, dict[str, str]] = defaultdict(dict)
    for cid, key, status in db.session.execute(
        select(ConsentState.contact_id, ConsentState.purpose_key, ConsentState.status)
    ):
        states[cid][key] = status
    received: dict[int, set[int]] = defaultdict(set)
    sent = select(Delivery.contact_id, Delivery.campaign_id).where(
        Delivery.status == DeliveryStatus.SENT.value
    )
    for cid, campaign_id in db.session.execute(sent):
        received[cid].add(campaign_id)
    events: dict[int, list[segments.Event]] = defaultdict(list)
    for e in db.session.scalars(select(TrackingEvent)):
        events[e.contact_id].append(segments.Event(e.kind, e.campaign_id, e.at, e.flags == 0))
    tracked: dict[int, list[segments.TrackedDelivery]] = defaultdict(list)
    for d in db.session.scalars(select(Delivery)):
        if (
            d.status == DeliveryStatus.SENT.value
            and d.tracking in segments.TRACKED_FOR_OPENS
            and d.sent_at is not None
        ):
            tracked[d.contact_id].append(segments.TrackedDelivery(d.id, d.campaign_id, d.sent_at))
    held: dict[int, list[segments.Held]] = defaultdict(list)
    for sub in db.session.scalars(select(Subscription)):
        held[sub.contact_id].append(segments.Held(sub.kind, sub.status, sub.expires_on))
    return {
        c.id: segments.ContactFacts(
            email=c.email,
            name=c.name,
            locale=c.locale,
            created_at=c.created_at,
            attributes=c.attributes or {},
            tags=frozenset(tags[c.id]),
            consents=states[c.id],
            received=frozenset(received[c.id]),
            events=tuple(events[c.id]),
            tracked=tuple(tracked[c.id]),
            subscriptions=tuple(held[c.id]),
        )
        for c in db.session.scalars(select(Contact))
    }


def _conditions(campaign_ids: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    text_value = st.sampled_from((*TEXTS, "an", "Nguyễn Văn", "@example.com", "vi", "en", "A"))
    contact_text = st.builds(
        lambda f, op, v: {"field": f, "op": op, **({} if op == "is_set" else {"value": v})},
        st.sampled_from(("email", "name", "locale")),
        st.sampled_from(segments.TEXT_OPS),
        text_value,
    )
    created = st.builds(
        lambda op, days: {
            "field": "created_at",
            "op": op,
            "value": (BASE + timedelta(days=days)).date().isoformat(),
        },
        st.sampled_from(segments.ORDER_OPS[:-1]),
        st.integers(-4, 4),
    )

    def attribute(type_: str, op: str, value: str) -> dict[str, Any]:
        key = {"text": "city", "number": "score", "date": "renew"}[type_]
        data = {"field": "attribute", "key": key, "type": type_, "op": op}
        return data if op == "is_set" else {**data, "value": value}

    attributes = st.one_of(
        st.builds(attribute, st.just("text"), st.sampled_from(segments.TEXT_OPS), text_value),
        st.builds(
            attribute,
            st.just("number"),
            st.sampled_from(segments.ORDER_OPS),
            st.sampled_from(("12", "12.5", "0", "-3", "7", "11.999", "-0.5")),
        ),
        st.builds(
            attribute,
            st.just("date"),
            st.sampled_from(segments.ORDER_OPS),
            st.sampled_from(("2026-01-15", "2025-12-31", "2026-02-28", "2026-03-01")),
        ),
    )
    tags = st.builds(
        lambda op, tag: {"field": "tag", "op": op, "value": tag},
        st.sampled_from(segments.TAG_OPS),
        st.sampled_from(TAGS),
    )
    consents = st.builds(
        lambda key, state: {"field": "consent", "key": key, "op": "is", "value": state},
        st.sampled_from(("promotions", "events")),
        st.sampled_from(segments.CONSENT_STATES),
    )
    received = st.builds(
        lambda op, cid: {"field": "received", "op": op, "value": str(cid)},
        st.sampled_from(segments.RECEIVED_OPS),
        st.sampled_from(campaign_ids),
    )
    engaged = st.builds(
        lambda field, op, days: {"field": field, "op": op, "value": days},
        st.sampled_from(segments.ENGAGEMENT_FIELDS),
        st.sampled_from(segments.ENGAGEMENT_OPS),
        st.sampled_from(DAYS),
    )
    unopened = st.builds(
        lambda n: {"field": "last_campaigns", "op": "none_opened", "value": n},
        st.integers(1, len(campaign_ids) + 1),
    )
    subscribed = st.builds(
        lambda key, op, days: {
            "field": "subscription", "key": key, "op": op,
            **({} if op == "active" else {"value": days}),
        },
        st.sampled_from(("", *SUBSCRIPTION_KINDS, "email")),
        st.sampled_from(segments.SUBSCRIPTION_OPS),
        st.sampled_from(DAYS),
    )  # fmt: skip
    return st.one_of(
        contact_text, created, attributes, tags, consents, received, engaged, unopened, subscribed
    )


def _trees(campaign_ids: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    leaf = _conditions(campaign_ids)
    items = st.recursive(
        leaf,
        lambda inner: st.builds(
            lambda match, items: {"match": match, "items": items},
            st.sampled_from(segments.MATCHES),
            st.lists(inner, min_size=1, max_size=4),
        ),
        max_leaves=8,
    )
    return st.builds(
        lambda match, items: {"match": match, "items": items},
        st.sampled_from(segments.MATCHES),
        st.lists(items, min_size=1, max_size=4),
    )


def _depth(tree: dict[str, Any]) -> int:
    return 1 + max((_depth(i) for i in tree["items"] if "items" in i), default=0)


def _found(group: segments.Group) -> set[int]:
    query = select(Contact.id).where(segment_cases.clause(group, HORIZON))
    return set(db.session.scalars(query))


def test_sql_selects_exactly_what_the_python_reading_accepts(app: Flask) -> None:
    campaign_ids = promotion_campaigns(4)
    _population(random.Random(17), campaign_ids)
    facts = _facts()
    assert len(facts) == 48
    seen_sizes: set[int] = set()

    @settings(
        max_examples=300,
        derandomize=True,  # the same trees on every run and machine; no example database
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(_trees(campaign_ids))
    def check(tree: dict[str, Any]) -> None:
        if _depth(tree) > segments.MAX_DEPTH:
            return
        group = segment_cases.parse(tree)
        expected = {cid for cid, f in facts.items() if segments.matches(group, f, HORIZON)}
        found = _found(group)
        assert found == expected, segments.to_json(group)
        seen_sizes.add(len(found))

    check()
    # The trees must select varied sets, or the agreement above says little.
    assert len(seen_sizes) > 10, seen_sizes


def test_each_condition_kind_selects_someone_and_not_everyone(app: Flask) -> None:
    """The population sits on the edges the generated trees probe: one tree per kind."""
    _population(random.Random(5), promotion_campaigns(4))
    facts = _facts()
    for condition in (
        {"field": "name", "op": "contains", "value": "An"},
        {"field": "attribute", "key": "score", "type": "number", "op": "ge", "value": "12"},
        {"field": "attribute", "key": "renew", "type": "date", "op": "lt", "value": "2026-01-15"},
        {"field": "tag", "op": "has_not", "value": "vip"},
        {"field": "consent", "key": "promotions", "op": "is", "value": "none"},
        *[
            {"field": "created_at", "op": op, "value": "2026-01-09"}
            for op in segments.ORDER_OPS[:-1]
        ],
        *[
            {"field": field, "op": op, "value": days}
            for field in segments.ENGAGEMENT_FIELDS
            for op in segments.ENGAGEMENT_OPS
            for days in (7, 30, 90)
        ],
        *[{"field": "last_campaigns", "op": "none_opened", "value": n} for n in (1, 2, 3)],
        *[
            {"field": "subscription", "op": op, "value": days}
            for op in ("expires_within", "expired_within")
            for days in (1, 7, 30)
        ],
        {"field": "subscription", "op": "active", "key": "ssl"},
    ):
        group = segment_cases.parse({"match": "all", "items": [condition]})
        found = _found(group)
        assert found == {cid for cid, f in facts.items() if segments.matches(group, f, HORIZON)}
        assert 0 < len(found) < len(facts), condition
