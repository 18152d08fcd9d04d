"""Every admin view names the permission it needs; this turns that into a 403 or a sign-in."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from flask import flash, request
from flask_login import current_user, login_required

from notifier.domain.errors import ValidationFailed
from notifier.i18n import current_locale, has_message, translate
from notifier.infra.context import profile
from notifier.operations.access import Access, Forbidden, access_for
from notifier.web.admin.problems import problem_text

View = TypeVar("View", bound=Callable[..., Any])


def staff_access() -> Access:
    return access_for(current_user, request.remote_addr)


def requires(permission: str | None) -> Callable[[View], View]:
    """None means any signed-in staff member; the permission comes from the profile's role."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if permission is not None and not staff_access().can(permission):
                raise Forbidden(permission)
            return view(*args, **kwargs)

        # Tests read it to prove every admin view is guarded.
        setattr(guarded, "permission", permission)  # noqa: B010
        return cast(View, login_required(guarded))

    return decorate


def flash_errors(exc: ValidationFailed) -> None:
    for field, problem in exc.errors.items():
        flash(f"{field_label(field)}: {message(problem)}", "error")


def field_label(field: str) -> str:
    key = f"field_{field}"
    return translate(key) if has_message(key) else field


def message(problem: str) -> str:
    """Services name a catalogue key for problems a page expects, and plain English otherwise."""
    return problem_text(problem)


def local_time(moment: datetime | None) -> str:
    """Staff read times in the profile's zone (Asia/Ho_Chi_Minh unless the profile says other)."""
    return in_zone(moment, profile().default_time_zone)


def in_zone(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%d/%m/%Y %H:%M" if current_locale() == "vi" else "%Y-%m-%d %H:%M")


def purpose_name(key: str) -> str:
    try:
        return profile().purpose(key).name.get(current_locale())
    except KeyError:
        return key
