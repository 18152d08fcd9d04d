"""Sample data of the built-in layouts: the active sender's brand, dates counted from `now`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from notifier.domain.profile import Identity

SAMPLE_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
LOCALES = ("vi", "en")


def brand_fields(identity: Identity) -> dict[str, str]:
    """What a sample's text may name with {field}: the sender's own identity, never another's."""
    website = identity.website if "://" in identity.website else f"https://{identity.website}"
    return {
        "company": identity.company,
        "brand": identity.from_name or identity.company,
        "phone": identity.phone,
        "email": identity.email,
        "address": identity.address,
        "website": website.rstrip("/"),
    }


def make_sample(raw: Mapping[str, Any], now: dt.datetime, identity: Identity) -> dict[str, Any]:
    """A layout's [sample.<locale>] table made concrete: {field} from the identity, and
    {in_days = N, at = "HH:MM"} as a date (or an aware date-time) N days after `now`, in ISO
    8601 so the data survives JSON as it is stored with a campaign."""
    today = now.astimezone(SAMPLE_ZONE).date()
    return {key: _value(value, today, brand_fields(identity)) for key, value in raw.items()}


def _value(value: Any, today: dt.date, fields: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(fields)
    if isinstance(value, list):
        return [_value(item, today, fields) for item in value]
    if isinstance(value, Mapping) and "in_days" in value:
        day = today + dt.timedelta(days=int(value["in_days"]))
        if "at" not in value:
            return day.isoformat()
        clock = dt.time.fromisoformat(str(value["at"]))
        return dt.datetime.combine(day, clock, SAMPLE_ZONE).isoformat()
    if isinstance(value, Mapping):
        return {key: _value(item, today, fields) for key, item in value.items()}
    return value


def localized(data: Mapping[str, Any], locale: str) -> Mapping[str, Any]:
    """Campaign data may hold one variant per locale ({"vi": {...}, "en": {...}}): the
    recipient's, else the Vietnamese one; data without variants is the same for everyone."""
    if not _has_variants(data):
        return data
    chosen = data.get(locale) if locale in LOCALES else None
    return chosen if isinstance(chosen, Mapping) else data["vi"]


def _has_variants(data: Mapping[str, Any]) -> bool:
    return isinstance(data.get("vi"), Mapping) and set(data) <= set(LOCALES)
