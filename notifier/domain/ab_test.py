"""A/B subject tests: the settings staff give, who is in the sample and with which subject, and
which subject won (docs/ab-tests.md).

Pure rules: the caller counts the sends and the people and passes them in. The sample's order is
a hash of (campaign, contact), so it is the same on every run and for every process, and it does
not follow the contacts' ids (which follow the order they signed up in); the planning SQL uses
the same formula (`order_key`), and a test compares the two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

MIN_VARIANTS, MAX_VARIANTS = 2, 4
MIN_SAMPLE_PERCENT, MAX_SAMPLE_PERCENT = 10, 50
MIN_WAIT_HOURS, MAX_WAIT_HOURS = 1, 72
MAX_SUBJECT = 200  # characters; the advertising label is added in front when the mail is built
CLICKS, OPENS = "clicks", "opens"
METRICS = (CLICKS, OPENS)
LETTERS = "ABCD"  # how staff read variant 1..4
# Refused in a subject: control characters (C0, DEL, C1), line and paragraph separators, and the
# bidirectional controls that could make a subject read otherwise than it is. A character class
# body, so the API's schema states the same rule (api/schemas.py).
FORBIDDEN = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
_FORBIDDEN = re.compile(f"[{FORBIDDEN}]")

# A multiplicative hash (Knuth's constant) modulo a prime below 2**32: contact ids up to 2**31
# keep every product inside a signed 64-bit integer, in SQLite and PostgreSQL alike.
HASH_MULTIPLIER = 2_654_435_761
HASH_CAMPAIGN = 2_246_822_519
HASH_MODULUS = 4_294_967_291


class Reason:
    """Why the winner won (stored with it, shown on the campaign page)."""

    HIGHEST_RATE = "highest_rate"  # the most people per tracked message
    TIE = "tie"  # two or more shared the best rate: the lowest variant number
    NO_ENGAGEMENT = "no_engagement"  # tracked mail went out, nobody clicked (opened): variant A
    NO_TRACKED_MAIL = "no_tracked_mail"  # nobody in the sample was tracked: variant A


@dataclass(frozen=True)
class Settings:
    """An A/B subject test as staff set it: 2-4 subjects (each in vi and en), the share of the
    audience that forms the sample, the wait before the pick, and what counts."""

    subjects: tuple[tuple[str, str], ...]  # (vi, en) per variant, variant 1 first
    sample_percent: int
    wait_hours: int
    metric: str

    def stored(self) -> dict[str, Any]:
        return {
            "variants": [{"vi": vi, "en": en} for vi, en in self.subjects],
            "sample_percent": self.sample_percent,
            "wait_hours": self.wait_hours,
            "metric": self.metric,
        }


def settings_of(stored: Mapping[str, Any] | None) -> Settings | None:
    """The settings kept on a campaign (None: no test); stored data is trusted (checked once)."""
    if not stored:
        return None
    return Settings(
        tuple((str(v["vi"]), str(v["en"])) for v in stored["variants"]),
        int(stored["sample_percent"]),
        int(stored["wait_hours"]),
        str(stored["metric"]),
    )


def check(
    subjects: Sequence[tuple[Any, Any]], sample_percent: Any, wait_hours: Any, metric: Any
) -> tuple[Settings | None, dict[str, str]]:
    """The settings, or the problems by field (`ab_subject_2_en`, `ab_sample_percent` ...)."""
    errors: dict[str, str] = {}
    if not MIN_VARIANTS <= len(subjects) <= MAX_VARIANTS:
        errors["ab_variants"] = f"needs {MIN_VARIANTS} to {MAX_VARIANTS} subjects"
    clean: list[tuple[str, str]] = []
    for number, pair in enumerate(subjects[:MAX_VARIANTS], start=1):
        texts = []
        for locale, text in zip(("vi", "en"), pair, strict=True):
            problem = subject_problem(text)
            if problem:
                errors[f"ab_subject_{number}_{locale}"] = problem
            texts.append(str(text).strip() if isinstance(text, str) else "")
        clean.append((texts[0], texts[1]))
    percent = _whole(sample_percent)
    if percent is None or not MIN_SAMPLE_PERCENT <= percent <= MAX_SAMPLE_PERCENT:
        errors["ab_sample_percent"] = (
            f"must be a whole number from {MIN_SAMPLE_PERCENT} to {MAX_SAMPLE_PERCENT}"
        )
    hours = _whole(wait_hours)
    if hours is None or not MIN_WAIT_HOURS <= hours <= MAX_WAIT_HOURS:
        errors["ab_wait_hours"] = (
            f"must be a whole number from {MIN_WAIT_HOURS} to {MAX_WAIT_HOURS}"
        )
    if metric not in METRICS:
        errors["ab_metric"] = f"one of {', '.join(METRICS)}"
    if len({vi.casefold() for vi, _ in clean}) < len(clean) and "ab_variants" not in errors:
        errors["ab_variants"] = "the subjects must differ"
    if errors:
        return None, errors
    assert percent is not None and hours is not None
    return Settings(tuple(clean), percent, hours, str(metric)), {}


def subject_problem(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return "is required"
    if len(text.strip()) > MAX_SUBJECT:
        return f"is longer than {MAX_SUBJECT} characters"
    if _FORBIDDEN.search(text):
        return "contains control characters or line breaks"
    return None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip()[:6])
    return None


def order_key(campaign_id: int, contact_id: int) -> int:
    """The place of a contact in the campaign's sample order (lower first); ties by contact id.
    Each campaign turns the circle of keys by its own offset, so its sample is another arc."""
    return (contact_id * HASH_MULTIPLIER + campaign_offset(campaign_id)) % HASH_MODULUS


def campaign_offset(campaign_id: int) -> int:
    return campaign_id * HASH_CAMPAIGN % HASH_MODULUS


def sample_size(audience: int, percent: int, variants: int) -> int:
    """How many of the planned audience get a variant now: `percent` of them rounded half up,
    never fewer than one per variant (a test of nobody picks nothing), never more than all."""
    wanted = (audience * percent * 2 + 100) // 200
    return min(audience, max(wanted, variants))


def variant_at(rank: int, variants: int) -> int:
    """The variant (1-based) of the sample's `rank`-th person (0-based): round robin, so the
    variants' shares differ by one at most."""
    return rank % variants + 1


def split(
    campaign_id: int, contact_ids: Iterable[int], percent: int, variants: int
) -> dict[int, int]:
    """contact id -> variant for the sample; everyone else waits for the winner. What the
    planning SQL does, for the tests and for reading."""
    ordered = sorted(contact_ids, key=lambda c: (order_key(campaign_id, c), c))
    size = sample_size(len(ordered), percent, variants)
    return {contact: variant_at(rank, variants) for rank, contact in enumerate(ordered[:size])}


@dataclass(frozen=True)
class Tally:
    """One variant's sample: messages that carried the metric's tracking, and the people (not
    machines) who clicked (or opened) at least once."""

    variant: int
    tracked: int
    people: int

    @property
    def rate(self) -> Fraction:
        return Fraction(self.people, self.tracked) if self.tracked else Fraction(0)


@dataclass(frozen=True)
class Verdict:
    winner: int
    reason: str


def pick_winner(tallies: Sequence[Tally]) -> Verdict:
    """The variant with the most people per tracked message (exact fractions: the variants'
    samples may differ by one, or by who was tracked); ties go to the lower number. With no
    tracked mail or nobody engaged there is nothing to learn, and variant 1 (A) is sent."""
    ordered = sorted(tallies, key=lambda t: t.variant)
    if not ordered:
        raise ValueError("an A/B test has variants")
    first = ordered[0].variant
    if not any(t.tracked for t in ordered):
        return Verdict(first, Reason.NO_TRACKED_MAIL)
    best = max(t.rate for t in ordered)
    if best == 0:
        return Verdict(first, Reason.NO_ENGAGEMENT)
    leaders = [t.variant for t in ordered if t.rate == best]
    return Verdict(leaders[0], Reason.TIE if len(leaders) > 1 else Reason.HIGHEST_RATE)


def letter(variant: int) -> str:
    return LETTERS[variant - 1] if 1 <= variant <= len(LETTERS) else str(variant)
